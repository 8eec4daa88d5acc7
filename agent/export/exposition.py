"""Prometheus text exposition (format 0.0.4), read from the store, never from collectors.

/metrics is served from a cached rendering: one bytes body, and for each family where its lines
sit in it. The store tells the exposition which metric names each write changed (`Store.watchers`),
so a scrape re-renders only the families that changed since the last one and copies the others'
bytes; with nothing changed it returns the same body (and the same gzip of it) again. Rendering
a family formats all its lines at once into the body: no per-series objects are kept, which at
100,000 series is ~25 MB less than a cache of formatted lines.

It shows the series as the collectors exposed them: the target labels the agent gives each
collector's samples (`job`, `instance`, see agent/targets.py) are left out, and so are the
synthetic `up` and `scrape_*` series, as an exporter's /metrics has none: a Prometheus scraping
the agent adds its own.
"""

from __future__ import annotations

import asyncio
import gzip
import math
from collections.abc import Collection, Generator, Iterator
from dataclasses import dataclass

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
# Go's gzip.BestSpeed: ~4 ms for a 600 KB body here, which still shrinks it ~10x.
GZIP_LEVEL = 1


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


def _variant(body: bytes, *, openmetrics: bool, gzipped: bool) -> bytes:
    """The text body as OpenMetrics and/or gzip-compressed."""
    converted = to_openmetrics(body) if openmetrics else body
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
    """Where one family's lines sit in the rendered body, and what they were rendered from."""

    meta: MetricMeta
    members: tuple[str, ...]
    start: int
    end: int


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
        self._body = b""
        self._placed: dict[str, _Placed] = {}
        self._changed: set[str] = set()
        self._everything = True
        self._variants: dict[tuple[bool, bool], bytes] = {}  # (openmetrics, gzipped) -> body, for _body
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
        return run_through(self._render_steps())

    async def body(self, *, gzipped: bool = False, openmetrics: bool = False) -> bytes:
        """The exposition for one scrape, as OpenMetrics and gzip-compressed when asked: cached until the store changes.

        Rendering pauses between families (every RENDER_STEP_BYTES rendered) so the loop serves
        meanwhile, and conversion and compression run in a thread; concurrent scrapes wait for one
        rendering and one compression. The daemon's scrapes come here only (`render` is for one-off use).
        """
        async with self._lock:
            body = await run_between_tasks(self._render_steps())
            if not gzipped and not openmetrics:
                return body
            variant = self._variants.get((openmetrics, gzipped))
            if variant is None:
                variant = await asyncio.to_thread(_variant, body, openmetrics=openmetrics, gzipped=gzipped)
                if body is self._body:
                    self._variants[(openmetrics, gzipped)] = variant
            return variant

    def _render_steps(self) -> Generator[None, None, bytes]:
        """Render what changed, copy the rest; pauses (yields) every RENDER_STEP_BYTES rendered."""
        if not self._everything and not self._changed:
            return self._body
        everything = self._everything
        dirty = {self._family_of(name) for name in self._changed}
        self._everything, self._changed = False, set()
        old = memoryview(self._body)
        parts: list[bytes | memoryview] = []
        placed: dict[str, _Placed] = {}
        offset = rendered = 0
        for family, members in self._families():
            meta = self._store.meta(family)
            before = self._placed.get(family)
            if before is None or before.meta != meta or before.members != members:
                part: bytes | memoryview = self._render_family(meta, members)
                rendered += len(part)
            elif not everything and family not in dirty:
                part = old[before.start : before.end]
            elif self._mid_write():
                part = old[before.start : before.end]  # as of the last whole write; rendered again next time
                self._changed.update(members)
            else:
                part = self._render_family(meta, members)
                rendered += len(part)
            parts.append(part)
            placed[family] = _Placed(meta, members, offset, offset + len(part))
            offset += len(part)
            if rendered >= RENDER_STEP_BYTES:
                rendered = 0
                yield
        body = b"".join(parts)
        self._body, self._placed, self._variants = body, placed, {}
        return body

    def _mid_write(self) -> bool:
        return self._store.writing > 0

    def _render_family(self, meta: MetricMeta, members: tuple[str, ...]) -> bytes:
        """The family's header and lines; nothing when it has no series to show (all stale).

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
            return b""
        body = "".join(lines)
        if "\\" in body or body.count("\n") != len(lines) or body.count('"') != 2 * pairs:
            body = "".join(self._escaped_lines(members))
        return (family_header(meta) + body).encode()

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
