"""Prometheus text exposition (format 0.0.4), read from the store, never from collectors.

prometheus-client's generic path rebuilds every line on every scrape (400-700 ms for
100,000 series here). Most series do not change between scrapes, so each series keeps
its rendered line together with the value it was rendered for, and a scrape re-renders
only the lines whose value moved.
"""

from __future__ import annotations

import math

from agent.model import Labels, MetricMeta, MetricType
from agent.store import Series, Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Sample names that belong to a family of another name.
_SUFFIXES = {
    MetricType.HISTOGRAM: ("_bucket", "_sum", "_count"),
    MetricType.SUMMARY: ("_sum", "_count"),
}


def format_value(value: float) -> str:
    """A sample value as Go's Prometheus libraries write it."""
    if math.isfinite(value):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def series_prefix(name: str, labels: Labels) -> str:
    """`name{a="b",c="d"} ` — everything of a line but the value."""
    if not labels:
        return name + " "
    inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels)
    return f"{name}{{{inner}}} "


def family_header(meta: MetricMeta) -> str:
    help_line = f"# HELP {meta.name} {escape_help(meta.help)}\n" if meta.help else ""
    return f"{help_line}# TYPE {meta.name} {meta.type.value}\n"


class Exposition:
    """Renders the store as /metrics, reusing the lines of series whose value did not change."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lines: dict[Series, tuple[float, str]] = {}
        self._headers: dict[MetricMeta, str] = {}

    def render(self) -> bytes:
        lines: dict[Series, tuple[float, str]] = {}
        parts: list[str] = []
        for family_name, members in self._families():
            body = self._render_family(members, lines)
            if body:
                parts.append(self._header(family_name))
                parts.extend(body)
        self._lines = lines
        return "".join(parts).encode()

    def _render_family(self, members: list[str], lines: dict[Series, tuple[float, str]]) -> list[str]:
        old = self._lines
        body: list[str] = []
        for name in members:
            for series in self._store.family(name):
                value = series.latest()
                if value is None:
                    continue
                cached = old.get(series)
                if cached is None or not _same(cached[0], value):
                    prefix = series_prefix(series.name, series.labels)
                    cached = (value, f"{prefix}{format_value(value)}\n")
                lines[series] = cached
                body.append(cached[1])
        return body

    def _families(self) -> list[tuple[str, list[str]]]:
        """Metric names grouped into families (a histogram's _bucket/_sum/_count under its own name)."""
        families: dict[str, list[str]] = {}
        for name in sorted(self._store.names()):
            families.setdefault(self._family_of(name), []).append(name)
        return list(families.items())

    def _family_of(self, name: str) -> str:
        for suffix in (s for suffixes in _SUFFIXES.values() for s in suffixes):
            if name.endswith(suffix):
                base = name[: -len(suffix)]
                if self._store.meta(base).type in _SUFFIXES:
                    return base
        return name

    def _header(self, family: str) -> str:
        meta = self._store.meta(family)
        header = self._headers.get(meta)
        if header is None:
            header = self._headers[meta] = family_header(meta)
        return header


def _same(a: float, b: float) -> bool:
    """Equality for caching, where one NaN is as good as another."""
    return a == b or (math.isnan(a) and math.isnan(b))
