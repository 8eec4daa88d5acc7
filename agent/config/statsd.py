"""Settings of the StatsD exporter, and the name template they contain.

A StatsD name is built from a template of dot-separated segments. Placeholders:

- `{name}`         the metric name (`node_load1`);
- `{label.NAME}`   the value of one label (`{label.device}` -> `sda`);
- `{labels}`       every label value, in label-name order, one segment each.

Everything else is literal text (letters, digits, `_`, `-`, `.`). In names and label values
every character StatsD or Graphite would misread (`:`, `|`, `@`, `.`, spaces, anything not
ASCII) becomes `_`, so a value adds exactly one segment. A placeholder with nothing to fill
(a series without that label) leaves an empty segment, which is dropped. The default,
`{name}.{labels}`, gives every series a name of its own (`node_cpu_seconds_total.0.idle`).
A template that leaves labels out sends one line for all the series it merges, their sum
(what `sum by` the kept labels gives in PromQL).

Validation does no I/O: `statsd_config_errors` checks a config before any socket exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from agent.config.types import Duration

DEFAULT_TEMPLATE = "{name}.{labels}"

# What StatsD and Graphite read as plain name characters; `.` separates segments.
LITERAL_CHARACTERS = re.compile(r"[A-Za-z0-9_.\-]*")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

PieceKind = Literal["text", "name", "labels", "label"]


@dataclass(frozen=True)
class StatsdConfig:
    """Where and what to send to a StatsD server (the `statsd:` section of the config)."""

    host: str = "127.0.0.1"
    port: int = 8125
    prefix: str = "tripwired"  # prepended as the first segment; empty for none
    interval: Duration | None = None  # default: global.interval
    template: str = DEFAULT_TEMPLATE
    include: list[str] = field(default_factory=lambda: [".*"])  # metric-name regexes, fully anchored
    exclude: list[str] = field(default_factory=list)
    max_udp_size: int = 1432  # bytes of one datagram: 1432 fits a 1500-byte Ethernet MTU


@dataclass(frozen=True, slots=True)
class TemplatePiece:
    """One part of a parsed template: literal text, or a placeholder (`label` names its label)."""

    kind: PieceKind
    text: str = ""


def parse_template(template: str) -> tuple[TemplatePiece, ...]:
    """The pieces of a name template; ValueError naming the first thing wrong with it."""
    pieces: list[TemplatePiece] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        pieces.extend(_literal(template[position : match.start()]))
        pieces.append(_placeholder(match.group(1)))
        position = match.end()
    pieces.extend(_literal(template[position:]))
    if not any(piece.kind == "name" for piece in pieces):
        raise ValueError(f"template {template!r} has no {{name}}")
    return tuple(pieces)


def _literal(text: str) -> list[TemplatePiece]:
    if not text:
        return []
    if not LITERAL_CHARACTERS.fullmatch(text):
        raise ValueError(f"template text {text!r} may hold only letters, digits, '_', '-' and '.'")
    return [TemplatePiece("text", text)]


def _placeholder(inner: str) -> TemplatePiece:
    if inner == "name":
        return TemplatePiece("name")
    if inner == "labels":
        return TemplatePiece("labels")
    label = inner.removeprefix("label.")
    if label != inner and _LABEL_NAME.fullmatch(label):
        return TemplatePiece("label", label)
    raise ValueError(f"unknown placeholder {{{inner}}} (known: {{name}}, {{labels}}, {{label.NAME}})")


def statsd_config_errors(config: StatsdConfig) -> list[str]:
    """Every problem of a StatsD config, as `statsd.FIELD: message` (empty when it is usable)."""
    errors = [f"statsd.{name}: {message}" for name, message in _field_problems(config)]
    try:
        parse_template(config.template)
    except ValueError as exc:
        errors.append(f"statsd.template: {exc}")
    for name in ("include", "exclude"):
        errors.extend(f"statsd.{name}: {problem}" for problem in _regex_problems(getattr(config, name)))
    return errors


def _field_problems(config: StatsdConfig) -> list[tuple[str, str]]:
    checks = [
        ("host", not config.host, "must not be empty"),
        ("port", not 0 < config.port < 65536, f"{config.port} is not a UDP port (1-65535)"),
        (
            "prefix",
            not LITERAL_CHARACTERS.fullmatch(config.prefix),
            f"{config.prefix!r} may hold only letters, digits, '_', '-' and '.'",
        ),
        ("interval", config.interval is not None and config.interval <= 0, "must be positive"),
        ("max_udp_size", not 64 <= config.max_udp_size <= 65507, "must be between 64 and 65507 bytes"),
    ]
    return [(name, message) for name, failed, message in checks if failed]


def _regex_problems(patterns: list[str]) -> list[str]:
    problems: list[str] = []
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append(f"invalid regular expression {pattern!r}: {exc}")
    return problems
