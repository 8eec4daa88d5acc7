"""OpenMetrics 1.0 for /metrics, chosen by `Accept` as client_golang's promhttp chooses it.

The OpenMetrics body is the text exposition with its headers rewritten and `# EOF` at the end:
a counter family is named without `_total` (its samples keep it), `untyped` is `unknown`, and
HELP escapes double quotes too. Sample lines are the text format's, label values included
(`le="0.5"` stays as it is stored), so a Prometheus 2.x scraping either format stores the same
series. A counter whose name lacks `_total` is written as `unknown`: OpenMetrics would have its
samples renamed `<name>_total`, which would make them other series than a text scrape gives.
"""

from __future__ import annotations

import enum
import re

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_HEADER = re.compile(rb"^# (HELP|TYPE) ([^ \n]+)(?: ([^\n]*))?$", re.MULTILINE)
_TYPE = re.compile(rb"^# TYPE ([^ \n]+) ([a-z]+)$", re.MULTILINE)
EOF = b"# EOF\n"


class ExpositionFormat(enum.Enum):
    """A /metrics format, by its Content-Type."""

    TEXT = TEXT_CONTENT_TYPE
    OPENMETRICS_1_0_0 = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    OPENMETRICS_0_0_1 = "application/openmetrics-text; version=0.0.1; charset=utf-8"

    @property
    def is_openmetrics(self) -> bool:
        """Whether the body is OpenMetrics (either version: they are written alike)."""
        return self is not ExpositionFormat.TEXT


def _accepted(accept: str) -> list[tuple[str, dict[str, str]]]:
    """Accept's media ranges, most preferred first (goautoneg's order: q, then the less wild)."""
    ranges = []
    for item in accept.split(","):
        media, *raw_params = item.split(";")
        params = {}
        for param in raw_params:
            key, _, value = param.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            continue
        media = media.strip().lower()
        if q > 0 and media:
            ranges.append((q, media, params))
    ranges.sort(key=lambda r: (-r[0], r[1].startswith("*/"), r[1].endswith("/*")))
    return [(media, params) for _, media, params in ranges]


def negotiate(accept: str) -> ExpositionFormat:
    """The format for a scrape's Accept header; the text format unless OpenMetrics comes first."""
    for media, params in _accepted(accept):
        version = params.get("version", "")
        if media == "text/plain" and version in ("0.0.4", ""):
            return ExpositionFormat.TEXT
        if media == "application/openmetrics-text" and version in ("1.0.0", "0.0.1", ""):
            return ExpositionFormat.OPENMETRICS_0_0_1 if version == "0.0.1" else ExpositionFormat.OPENMETRICS_1_0_0
    return ExpositionFormat.TEXT


def to_openmetrics(text: bytes) -> bytes:
    """A text-format exposition (as agent/export/exposition.py writes it) as OpenMetrics."""
    types = {m[1]: m[2] for m in _TYPE.finditer(text)}

    def header(match: re.Match[bytes]) -> bytes:
        kind, name, rest = match[1], match[2], match[3] or b""
        declared = types.get(name, b"untyped")
        family = name
        if declared == b"counter" and name.endswith(b"_total"):
            family = name[: -len(b"_total")]
        elif declared in (b"counter", b"untyped"):
            declared = b"unknown"
        if kind == b"TYPE":
            return b"# TYPE " + family + b" " + declared
        return b"# HELP " + family + b" " + rest.replace(b'"', b'\\"')

    return _HEADER.sub(header, text) + EOF
