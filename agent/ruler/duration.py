"""Prometheus' duration notation (`1h30m`, `90s`, `0`), parsed to and printed from milliseconds.

Rule files and rule tests use Prometheus' own model.Duration syntax, which also accepts
zero (`for: 0s`) — unlike PromQL's range durations — so it is handled here rather than by
promql_parser.
"""

from __future__ import annotations

import re

_UNITS_MS = (
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
)
_PATTERN = re.compile("".join(rf"(?:(\d+){unit})?" for unit, _ in _UNITS_MS))


def parse_duration_ms(text: str) -> int:
    """Milliseconds of a Prometheus duration; ValueError when `text` is not one."""
    text = text.strip()
    if text == "0":
        return 0
    match = _PATTERN.fullmatch(text)
    if not text or match is None:
        raise ValueError(f"not a valid duration string: {text!r}")
    return sum(int(n) * ms for n, (_, ms) in zip(match.groups(), _UNITS_MS, strict=True) if n)


def format_duration_ms(ms: int) -> str:
    """The duration as Prometheus prints it (`1m30s`, `1w`, `0s`)."""
    if ms == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS_MS:
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
