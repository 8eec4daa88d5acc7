"""StatsD export of the store's latest values, sent in batches with the `statsd` package.

Every flush reads the newest value of every series (never runs a collector) and sends
gauges for gauges and untyped metrics, and counters for the increase of counters since the
previous flush. A counter's first flush only takes its baseline; after a reset (the value
went down) the counter counts from zero again, as PromQL's increase() assumes, so nothing
negative is ever sent. Histogram and summary `_bucket`, `_sum` and `_count` series are
counters too. NaN and infinite values are left out: StatsD has no way to say them.

Names come from the template (see agent/config/statsd.py). Lines go through one pipeline,
which packs them into datagrams of at most `max_udp_size` bytes: 10,000 series make a few
hundred sendto calls, not 10,000.

The flush runs on the event loop, where the store is written, so it never reads a series
that a collector is half-way through writing. Resolving the host (a blocking
getaddrinfo) runs in a worker thread before the first flush.

Like /metrics, it sends each series as its collector made it: without the target labels the
agent gives collectors' series, and without the synthetic `up` and `scrape_*` (agent/targets.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import statsd
import structlog

from agent.config.statsd import StatsdConfig, TemplatePiece, parse_template, statsd_config_errors
from agent.model import Labels, MetricType
from agent.store import Series, Store
from agent.targets import exposed, is_synthetic

log = structlog.get_logger(__name__)

RESOLVE_TIMEOUT_SECONDS = 5.0
# Deltas of float counters (CPU seconds) carry float noise (0.1 + 0.2 - 0.3); nanoseconds are plenty.
DELTA_DIGITS = 9

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")
_CUMULATIVE_PARTS = {MetricType.HISTOGRAM: ("_bucket", "_sum", "_count"), MetricType.SUMMARY: ("_sum", "_count")}

Kind = Literal["gauge", "counter"]


class StatsdConfigError(ValueError):
    """A StatsD config that cannot be used; `errors` holds one line per problem."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)


def sanitize(text: str) -> str:
    """One StatsD name segment: every character but letters, digits, `_` and `-` becomes `_`."""
    return _UNSAFE.sub("_", text)


class NameTemplate:
    """Builds the StatsD name of a series from a parsed template."""

    def __init__(self, pieces: Sequence[TemplatePiece]) -> None:
        self._pieces = tuple(pieces)

    def render(self, name: str, labels: Labels) -> str:
        """The StatsD name of one series: the template filled in, empty dot-separated segments dropped."""
        text = "".join(self._piece(piece, name, labels) for piece in self._pieces)
        return ".".join(segment for segment in text.split(".") if segment)

    @staticmethod
    def _piece(piece: TemplatePiece, name: str, labels: Labels) -> str:
        if piece.kind == "name":
            return sanitize(name)
        if piece.kind == "labels":
            return ".".join(sanitize(value) for _, value in labels)
        if piece.kind == "label":
            return sanitize(dict(labels).get(piece.text, ""))
        return piece.text


@dataclass(frozen=True, slots=True)
class _Target:
    """How one series is exported: under which StatsD name, as which kind."""

    stat: str
    kind: Kind


class StatsdExporter:
    """Sends the store's latest values to a StatsD server, at its interval or when flushed."""

    def __init__(self, config: StatsdConfig, store: Store, *, default_interval: float = 10.0) -> None:
        errors = statsd_config_errors(config)
        if errors:
            raise StatsdConfigError(errors)
        self.config = config
        self.interval = float(config.interval or default_interval)
        self._store = store
        self._template = NameTemplate(parse_template(config.template))
        self._include = [re.compile(p) for p in config.include]
        self._exclude = [re.compile(p) for p in config.exclude]
        self._client: statsd.StatsClient | None = None
        self._targets: dict[Series, _Target] = {}
        self._last_counts: dict[Series, float] = {}
        self._verdicts: dict[str, bool] = {}
        self._hidden: frozenset[tuple[str, str]] = frozenset()

    def hide_targets(self, targets: Collection[tuple[str, str]]) -> None:
        """Leave out the labels of these targets ((job, instance) pairs) from the names sent."""
        self._hidden = frozenset(targets)
        self._targets = {}

    # -- flushing ------------------------------------------------------------------

    def flush(self) -> int:
        """Send the latest value of every selected series; returns the number of lines sent."""
        totals = self._totals()
        pipe = self._connect().pipeline()
        lines = 0
        for (stat, kind), value in totals.items():
            if kind == "counter":
                pipe.incr(stat, _number(round(value, DELTA_DIGITS)))
            else:
                pipe.gauge(stat, _number(value))
                if value < 0:  # StatsD reads "-5" as a change: the package sends "0" first
                    lines += 1
            lines += 1
        pipe.send()
        return lines

    def _totals(self) -> dict[tuple[str, Kind], float]:
        """Values to send, summed per StatsD name and kind (a template may merge series)."""
        totals: dict[tuple[str, Kind], float] = {}
        targets: dict[Series, _Target] = {}
        counts: dict[Series, float] = {}
        for series, latest in self._latest():
            target = self._targets.get(series) or self._target(series)
            targets[series] = target
            value: float | None = latest
            if target.kind == "counter":
                counts[series] = latest
                value = self._increase(series, latest)
            if value is not None:
                key = (target.stat, target.kind)
                totals[key] = totals.get(key, 0.0) + value
        # Only live series are kept, so neither map outgrows the store.
        self._targets, self._last_counts = targets, counts
        return totals

    def _latest(self) -> Iterator[tuple[Series, float]]:
        """Selected series with a finite newest value, families in name order; not the targets' `up` and `scrape_*`."""
        for name in self._selected_names():
            for series in self._store.family(name):
                if is_synthetic(name, series.labels, self._hidden):
                    continue
                value = series.latest()
                if value is not None and math.isfinite(value):
                    yield series, value

    def _selected_names(self) -> list[str]:
        """The store's metric names that include/exclude select, remembering each verdict."""
        known = self._verdicts
        verdicts = {name: known[name] if name in known else self._is_selected(name) for name in self._store.names()}
        self._verdicts = verdicts  # names no longer in the store are forgotten
        return sorted(name for name, keep in verdicts.items() if keep)

    def _increase(self, series: Series, value: float) -> float | None:
        """What a counter counted since the last flush; None on its first."""
        last = self._last_counts.get(series)
        if last is None:
            return None
        return value if value < last else value - last

    def _is_selected(self, name: str) -> bool:
        return any(p.fullmatch(name) for p in self._include) and not any(p.fullmatch(name) for p in self._exclude)

    def _target(self, series: Series) -> _Target:
        labels = exposed(series.labels, self._hidden)
        return _Target(self._template.render(series.name, labels), self._kind(series.name))

    def _kind(self, name: str) -> Kind:
        meta_type = self._store.meta(name).type
        if meta_type is MetricType.COUNTER:
            return "counter"
        for family_type, suffixes in _CUMULATIVE_PARTS.items():
            for suffix in suffixes:
                if name.endswith(suffix) and self._store.meta(name[: -len(suffix)]).type is family_type:
                    return "counter"
        return "gauge"

    # -- the socket ------------------------------------------------------------------

    def _connect(self) -> statsd.StatsClient:
        """The client, created on first use (its constructor resolves the host)."""
        if self._client is None:
            config = self.config
            self._client = statsd.StatsClient(
                config.host,
                config.port,
                prefix=config.prefix or None,
                maxudpsize=config.max_udp_size,
                ipv6=":" in config.host,
            )
        return self._client

    def close(self) -> None:
        """Close the UDP client, if it was ever made; the next send makes a new one."""
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- running ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every `interval` seconds until `stop` is set; the first flush is one interval in."""
        try:
            while not await _stopped_within(stop, self.interval):
                if await self._resolve():
                    self._flush_logged()
        finally:
            self.close()

    async def _resolve(self) -> bool:
        """Create the client in a worker thread, so a slow DNS answer never blocks the loop."""
        if self._client is not None:
            return True
        try:
            await asyncio.wait_for(asyncio.to_thread(self._connect), timeout=RESOLVE_TIMEOUT_SECONDS)
        except (OSError, TimeoutError) as exc:
            log.warning(
                "statsd_resolve_failed",
                host=self.config.host,
                port=self.config.port,
                error=str(exc) or type(exc).__name__,
            )
            return False
        return True

    def _flush_logged(self) -> None:
        try:
            lines = self.flush()
        except Exception as exc:  # a bad flush must not end the exporter; the next one tries again
            log.error("statsd_flush_failed", error=f"{type(exc).__name__}: {exc}")
            return
        log.debug("statsd_flushed", lines=lines)


def _number(value: float) -> int | float:
    """An integral value as an int, so the line says `5`, not `5.0`."""
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for `stop`; whether it was set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()
