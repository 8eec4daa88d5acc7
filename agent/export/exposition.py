"""Prometheus text exposition (format 0.0.4), read from the store, never from collectors.

/metrics is served from a cached rendering kept compressed: each family's lines as one gzip part
(agent/export/gzip_parts.py). The store tells the exposition which metric names each write changed
(`Store.watchers`), so a scrape re-renders and compresses only the families that changed since the
last one and reuses the others' parts. The gzip body is the parts laid end to end; a client that
does not ask for gzip gets them inflated; either is made once per change. Rendering a family
formats all its lines at once: no per-series objects are kept (at 100,000 series ~25 MB less than a
cache of formatted lines), and a daemon whose scrapers all ask for gzip, as Prometheus does, holds
no uncompressed body between scrapes (~10 MB less again).

It shows the series as the collectors exposed them: the target labels the agent gives each
collector's samples (`job`, `instance`, see agent/targets.py) are left out, and so are the
synthetic `up` and `scrape_*` series, as an exporter's /metrics has none: a Prometheus scraping
the agent adds its own.
"""

from __future__ import annotations

import asyncio
import gzip
import math
import zlib
from collections.abc import Collection, Generator, Iterator
from dataclasses import dataclass

from agent.export.gzip_parts import LEVEL as GZIP_LEVEL
from agent.export.gzip_parts import Part, gzip_of, inflate
from agent.export.openmetrics import TEXT_CONTENT_TYPE, to_openmetrics
from agent.model import Labels, MetricMeta, MetricType
from agent.steps import run_between_tasks, run_through
from agent.store import Store
from agent.targets import SYNTHETIC_NAMES, exposed, is_synthetic

CONTENT_TYPE = TEXT_CONTENT_TYPE

# Sample names that belong to a family of another name.
_SUFFIXES = {
    MetricType.HISTOGRAM: ("_bucket", "_sum", "_count"),
    MetricType.SUMMARY: ("_sum", "_count"),
}
_ALL_SUFFIXES = ("_bucket", "_sum", "_count")
_PAIR = '="'.join  # ("job", "x") -> 'job="x'
# Bytes of lines rendered between two chances for the event loop to serve something else
# (~5,000 series; the store writes in steps of 5,000 samples for the same reason).
RENDER_STEP_BYTES = 256 * 1024
_NO_PART = Part(b"", zlib.crc32(b""), 0, 1 << 31)  # a family with no series to show


def format_value(value: float) -> str:
    """A sample value as Go's Prometheus libraries write it."""
    if value.is_integer() and -1e15 < value < 1e15:  # False for NaN and the infinities
        return str(int(value))
    if math.isfinite(value):
        return repr(value)
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


def escape_label_value(value: str) -> str:
    """A label value escaped for the text exposition format (backslash, newline, double quote)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    """HELP text escaped for the text exposition format (backslash and newline)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _form_of(parts: list[Part], *, openmetrics: bool, gzipped: bool) -> bytes:
    """The parts' text, as OpenMetrics and/or gzip-compressed."""
    text = inflate(parts)
    converted = to_openmetrics(text) if openmetrics else text
    return gzip.compress(converted, GZIP_LEVEL, mtime=0) if gzipped else converted


def series_prefix(name: str, labels: Labels) -> str:
    """`name{a="b",c="d"} ` — everything of a line but the value."""
    if not labels:
        return name + " "
    inner = '",'.join([f'{k}="{v}' for k, v in labels])  # label names never need escaping
    if "\\" in inner or "\n" in inner or inner.count('"') != 2 * len(labels) - 1:
        inner = '",'.join([f'{k}="{escape_label_value(v)}' for k, v in labels])
    return f'{name}{{{inner}"}} '


def family_header(meta: MetricMeta) -> str:
    """The `# HELP` (when there is help) and `# TYPE` lines that open a family."""
    help_line = f"# HELP {meta.name} {escape_help(meta.help)}\n" if meta.help else ""
    return f"{help_line}# TYPE {meta.name} {meta.type.value}\n"


@dataclass(frozen=True, slots=True)
class _Placed:
    """One family's rendered lines (compressed), and what they were rendered from."""

    meta: MetricMeta
    members: tuple[str, ...]
    part: Part


class Exposition:
    """Renders the store as /metrics, re-rendering only the families whose samples changed.

    The store tells it (as one of its `watchers`) which names each change touched, so the
    rendering is cached and a scrape with nothing changed costs a dictionary check.
    While a stepped write is half done, a changed family keeps its previous lines when it has
    some: a scrape sees each family as of one write, never half of one.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        store.watchers.add(self)
        self._parts: list[Part] = []  # every family's, in the body's order
        self._placed: dict[str, _Placed] = {}
        self._changed: set[str] = set()
        self._everything = True
        self._forms: dict[tuple[bool, bool], bytes] = {}  # (openmetrics, gzipped) -> body of the current parts
        self._lock = asyncio.Lock()
        self._targets: frozenset[tuple[str, str]] = frozenset()

    def hide_targets(self, targets: Collection[tuple[str, str]]) -> None:
        """Leave out the labels of these targets ((job, instance) pairs) from every series they are on."""
        self._targets = frozenset(targets)
        self._everything = True

    def changed(self, names: Collection[str] | None) -> None:
        """Hear that these metric names' samples changed (None: anything may have)."""
        if names is None:
            self._everything = True
        else:
            self._changed.update(names)

    def render(self) -> bytes:
        """The whole exposition, rendered now without pausing."""
        return inflate(run_through(self._render_steps()))

    async def body(self, *, gzipped: bool = False, openmetrics: bool = False) -> bytes:
        """The exposition for one scrape, as OpenMetrics and gzip-compressed when asked.

        Rendering pauses between families (every RENDER_STEP_BYTES rendered) so the loop serves
        meanwhile; concurrent scrapes wait for one rendering. Each form asked for is made once and
        cached until the store changes: gzip text from the parts as they are; the others from the
        parts inflated, in a thread. A daemon scraped only by Prometheus (gzip) holds no plain body.
        The daemon's scrapes come here only (`render` is for one-off use).
        """
        async with self._lock:
            parts = await run_between_tasks(self._render_steps())
            form = (openmetrics, gzipped)
            cached = self._forms.get(form)
            if cached is None:
                if gzipped and not openmetrics:
                    cached = gzip_of(parts)
                else:
                    cached = await asyncio.to_thread(_form_of, parts, openmetrics=openmetrics, gzipped=gzipped)
                if parts is self._parts:
                    self._forms[form] = cached
            return cached

    def _render_steps(self) -> Generator[None, None, list[Part]]:
        """Render and compress what changed, reuse the rest; pauses (yields) every RENDER_STEP_BYTES rendered."""
        if not self._everything and not self._changed:
            return self._parts
        everything = self._everything
        dirty = {self._family_of(name) for name in self._changed}
        self._everything, self._changed = False, set()
        parts: list[Part] = []
        placed: dict[str, _Placed] = {}
        rendered = 0
        for family, members in self._families():
            meta = self._store.meta(family)
            before = self._placed.get(family)
            if before is None or before.meta != meta or before.members != members:
                part = self._render_family(meta, members)
                rendered += part.size
            elif not everything and family not in dirty:
                part = before.part
            elif self._mid_write():
                part = before.part  # as of the last whole write; rendered again next time
                self._changed.update(members)
            else:
                part = self._render_family(meta, members)
                rendered += part.size
            if part.size:
                parts.append(part)
            placed[family] = _Placed(meta, members, part)
            if rendered >= RENDER_STEP_BYTES:
                rendered = 0
                yield
        self._parts, self._placed, self._forms = parts, placed, {}
        return parts

    def _mid_write(self) -> bool:
        return self._store.writing > 0

    def _render_family(self, meta: MetricMeta, members: tuple[str, ...]) -> Part:
        """The family's header and lines, compressed; nothing when it has no series to show (all stale).

        The lines are formatted without escaping, then checked at once: a label value with a
        backslash, newline or quote shows as more of them than the format itself writes, and only
        then is the family formatted again with every value escaped (rare: ~1/3 of the time saved).
        """
        lines: list[str] = []
        append = lines.append
        pairs = 0
        targets = self._targets
        for name in members:
            synthetic = targets and name in SYNTHETIC_NAMES
            for series in self._store.family(name):
                value = series.latest()
                if value is None or (synthetic and is_synthetic(name, series.labels, targets)):
                    continue
                text = str(int(value)) if value.is_integer() and -1e15 < value < 1e15 else format_value(value)
                labels = exposed(series.labels, targets) if targets else series.labels
                if labels:
                    pairs += len(labels)
                    inner = '",'.join(map(_PAIR, labels))
                    append(f'{name}{{{inner}"}} {text}\n')
                else:
                    append(f"{name} {text}\n")
        if not lines:
            return _NO_PART
        body = "".join(lines)
        if "\\" in body or body.count("\n") != len(lines) or body.count('"') != 2 * pairs:
            body = "".join(self._escaped_lines(members))
        return Part.of((family_header(meta) + body).encode())

    def _escaped_lines(self, members: tuple[str, ...]) -> Iterator[str]:
        for name in members:
            for series in self._store.family(name):
                value = series.latest()
                if value is not None and not is_synthetic(name, series.labels, self._targets):
                    yield f"{series_prefix(name, exposed(series.labels, self._targets))}{format_value(value)}\n"

    def _families(self) -> list[tuple[str, tuple[str, ...]]]:
        """Metric names grouped into families (a histogram's _bucket/_sum/_count under its own name)."""
        families: dict[str, list[str]] = {}
        for name in sorted(self._store.names()):
            families.setdefault(self._family_of(name), []).append(name)
        return [(family, tuple(members)) for family, members in families.items()]

    def _family_of(self, name: str) -> str:
        for suffix in _ALL_SUFFIXES:
            if name.endswith(suffix):
                base = name[: -len(suffix)]
                if self._store.meta(base).type in _SUFFIXES:
                    return base
        return name
