"""node_exporter's textfile collector: metrics that cron jobs and scripts leave in `*.prom` files.

The behaviour follows node_exporter's collector/textfile.go:

- every entry of the directory whose name ends in `.prom` is read, in name order;
- a file that cannot be opened or parsed, or that carries client-side timestamps, is
  left out whole, logged, and sets `node_textfile_scrape_error` to 1; the other files count;
- `node_textfile_mtime_seconds{file="<directory>/<name>"}` gives, in whole seconds, the
  mtime of each file read successfully;
- a family may be spread over several files; one whose HELP or TYPE contradicts the first
  file that declared it is dropped from the later file and counts as an error;
- a family without HELP is described as "Metric read from <files>".

Where node_exporter leans on its registry (which silently drops a series already collected,
or a family whose type changed between files), we drop the same samples and also set
scrape_error, so the loss is visible.

Files are parsed with prometheus-client's parser, undoing the two liberties it takes that
the Go parser does not (renaming counters to `*_total`, accepting OpenMetrics-only types
and quoted UTF-8 names).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from stat import S_ISREG

import structlog
from asyncinotify import Event, Inotify, Mask
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_fd_to_metric_families

from agent.config.schema import TextfileConfig
from agent.gocompat.strconv import format_openmetrics_float
from agent.model import NO_LABELS, Labels, MetricMeta, MetricType, Sample, SeriesKey, gauge, labels_of

log = structlog.get_logger()

MTIME = gauge("node_textfile_mtime_seconds", "Unixtime mtime of textfiles successfully read.")
SCRAPE_ERROR = gauge("node_textfile_scrape_error", "1 if there was an error opening or reading a file, 0 otherwise")

FILE_ERROR = gauge(
    "tripwired_textfile_file_error",
    "1 for each textfile left out whole, by file and reason (parse, open, not_regular, too_large, too_many_samples).",
)

SUFFIX = ".prom"
REASON_OPEN, REASON_NOT_REGULAR = "open", "not_regular"
REASON_TOO_LARGE, REASON_TOO_MANY_SAMPLES = "too_large", "too_many_samples"
# Blank lines and comment lines (HELP, TYPE, anything after #), each with its newline.
_NOT_A_SAMPLE = re.compile(rb"^[ \t]*(?:#[^\n]*)?\n", re.MULTILINE)

# prometheus-client's name for a family type -> the text format's name. Types only
# OpenMetrics knows (info, stateset, gaugehistogram) are refused, as the Go parser does.
_KINDS = {
    "counter": "counter",
    "gauge": "gauge",
    "histogram": "histogram",
    "summary": "summary",
    "unknown": "untyped",
}
_METRIC_TYPES = {
    "counter": MetricType.COUNTER,
    "gauge": MetricType.GAUGE,
    "histogram": MetricType.HISTOGRAM,
    "summary": MetricType.SUMMARY,
}

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_COUNTER_TYPE_LINE = re.compile(r"^[ \t]*#[ \t]+TYPE[ \t]+(\S+)[ \t]+counter[ \t]*$", re.MULTILINE)

# (device, inode, mtime_ns, size): a rename into place changes the inode even when a
# coarse clock leaves mtime and size as they were.
FileKey = tuple[int, int, int, int]


class TextfileError(ValueError):
    """A `*.prom` file that is not valid Prometheus text format, with the reason."""


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family as a file declares it."""

    name: str
    kind: str  # as in a `# TYPE` line: counter, gauge, histogram, summary, untyped
    help: str | None
    samples: tuple[Sample, ...]


@dataclass(frozen=True, slots=True)
class FileResult:
    """What one `*.prom` file gave: its families and mtime, or the reason it gave nothing."""

    path: str
    families: tuple[Family, ...] = ()
    mtime_seconds: float | None = None
    error: str | None = None
    reason: str = "parse"  # why it gave nothing, for tripwired_textfile_file_error{reason}


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong in the directory, logged once when it appears."""

    event: str
    fields: tuple[tuple[str, str], ...]

    def log(self) -> None:
        """Write the problem to the log as its event with its fields, at error level."""
        log.error(self.event, **dict(self.fields))


@dataclass(frozen=True, slots=True)
class Merged:
    """The files of one read combined: samples, family declarations, problems."""

    samples: tuple[Sample, ...]
    metas: tuple[MetricMeta, ...]
    problems: tuple[Problem, ...]


# --- parsing one file -------------------------------------------------------------------


def parse_textfile(text: str) -> tuple[Family, ...]:
    """Parse Prometheus text format as node_exporter's textfile collector accepts it."""
    reader = io.StringIO(text)
    try:
        parsed = list(text_fd_to_metric_families(reader))
    except ValueError as exc:
        # The parser reads line by line, so it stopped just after the line at fault.
        line = text[: reader.tell()].removesuffix("\n").count("\n") + 1
        raise TextfileError(f"line {line}: {exc or 'malformed line'}") from exc
    counters = set(_COUNTER_TYPE_LINE.findall(text))
    families: dict[str, Family] = {}
    pairs = _Pairs()
    for metric in parsed:
        _add_family(families, _family_of(metric, counters, pairs))
    return tuple(families.values())


class _Pairs(dict[tuple[str, str], tuple[str, str]]):
    """The label pairs of one file, each kept once, with names interned.

    The parser makes new strings for every label name, metric name and value of every line;
    the collector keeps an unchanged file's samples between reads, and the store keeps the
    label sets it first saw. Shared, a 100,000-series file held ~25 MB less (bench.textfile_hold).
    """

    def labels(self, labels: dict[str, str]) -> Labels:
        """`labels_of(labels)` made of this file's shared pairs."""
        return tuple(sorted(self._pair(name, value) for name, value in labels.items() if value != ""))

    def _pair(self, name: str, value: str) -> tuple[str, str]:
        key = (name, value)
        pair = self.get(key)
        if pair is None:
            pair = self[key] = (sys.intern(name), value)
        return pair


def _family_of(metric: Metric, counters: set[str], pairs: _Pairs) -> Family:
    kind = _KINDS.get(metric.type)
    if kind is None:
        raise TextfileError(f"unsupported metric type {metric.type!r} for {metric.name}")
    name, sample_names = metric.name, [s.name for s in metric.samples]
    if kind == "counter":
        name, sample_names = _declared_counter(name, sample_names, counters)
    samples = tuple(
        _sample_of(sys.intern(sample_name), s.labels, s.value, s.timestamp, pairs)
        for sample_name, s in zip(sample_names, metric.samples, strict=True)
    )
    return Family(name, kind, metric.documentation or None, samples)


def _declared_counter(name: str, sample_names: list[str], counters: set[str]) -> tuple[str, list[str]]:
    """Undo prometheus-client's renaming: `# TYPE x counter` keeps samples named `x`."""
    # The parser strips `_total` from the family name, and appends it to the samples
    # of a counter declared without it; the TYPE lines tell which happened.
    if name + "_total" in counters:
        return name + "_total", sample_names
    return name, [name] * len(sample_names)


def _sample_of(name: str, labels: dict[str, str], value: float, timestamp: object, pairs: _Pairs) -> Sample:
    if timestamp is not None:
        raise TextfileError("contains unsupported client-side timestamps, skipping entire file")
    if not _METRIC_NAME.fullmatch(name):
        raise TextfileError(f"invalid metric name {name!r}")
    for label in labels:
        if not _LABEL_NAME.fullmatch(label):
            raise TextfileError(f"invalid label name {label!r} in {name}")
    return Sample(name, pairs.labels(labels), float(value))


def _add_family(families: dict[str, Family], family: Family) -> None:
    """Join samples of a family that come back after another family, as the Go parser does."""
    earlier = families.get(family.name)
    if earlier is None:
        families[family.name] = family
    elif family.kind == "untyped" and family.help is None:
        families[family.name] = replace(earlier, samples=earlier.samples + family.samples)
    else:
        raise TextfileError(f"second HELP or TYPE line for metric {family.name}, or TYPE after its samples")


@dataclass(frozen=True, slots=True)
class Limits:
    """The most one file may hold; a file over either is refused whole (0: no limit)."""

    file_size_bytes: int = 16 * 1024 * 1024
    samples: int = 100_000


def read_textfile(path: str, limits: Limits = Limits()) -> tuple[FileKey | None, FileResult]:
    """Read and parse one file; the key is the file's identity before it was read.

    Only a regular file is read: the open never blocks (O_NONBLOCK, so a FIFO nobody writes to
    cannot hang the collector's thread) and fstat of the opened file decides, so a file swapped
    for something else between a stat and the open is still refused. At most the size limit
    plus one byte is read, and samples are counted before parsing, so a huge file costs nothing.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        return None, FileResult(path, error=f"failed to open textfile data file: {exc}", reason=REASON_OPEN)
    # Stat before reading: if a writer changes the file while we read, the key
    # we cache under is older than the change, so the next read sees it.
    stat = os.fstat(fd)
    key = (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)
    if not S_ISREG(stat.st_mode):
        os.close(fd)
        return key, FileResult(path, error="not a regular file, skipped", reason=REASON_NOT_REGULAR)
    with os.fdopen(fd, "rb") as f:
        try:
            raw = f.read(limits.file_size_bytes + 1) if limits.file_size_bytes else f.read()
        except OSError as exc:
            return None, FileResult(path, error=f"failed to read textfile data file: {exc}", reason=REASON_OPEN)
    return key, _parse_bytes(path, raw, stat.st_mtime_ns, limits)


def _parse_bytes(path: str, raw: bytes, mtime_ns: int, limits: Limits) -> FileResult:
    if limits.file_size_bytes and len(raw) > limits.file_size_bytes:
        error = f"larger than the file size limit of {limits.file_size_bytes} bytes, skipped"
        return FileResult(path, error=error, reason=REASON_TOO_LARGE)
    if limits.samples and count_sample_lines(raw) > limits.samples:
        error = f"more than the sample limit of {limits.samples} samples, skipped"
        return FileResult(path, error=error, reason=REASON_TOO_MANY_SAMPLES)
    try:
        families = parse_textfile(raw.decode("utf-8"))
    except ValueError as exc:  # TextfileError, and UnicodeDecodeError for a binary file
        return FileResult(path, error=f"failed to parse textfile data: {exc}")
    # node_exporter reports whole seconds (UnixNano() / 1e9 in integers).
    return FileResult(path, families, float(mtime_ns // 1_000_000_000))


def count_sample_lines(raw: bytes) -> int:
    """Lines that are neither blank nor comments: an upper bound of the samples a file holds."""
    last = raw[raw.rfind(b"\n") + 1 :].strip()
    tail = 1 if last and not last.startswith(b"#") else 0
    return raw.count(b"\n") - sum(1 for _ in _NOT_A_SAMPLE.finditer(raw)) + tail


# --- combining the files ----------------------------------------------------------------


@dataclass
class _Merger:
    """Combines families from several files, first file wins, as node_exporter does."""

    first: dict[str, Family] = field(default_factory=dict)
    help: dict[str, str] = field(default_factory=dict)
    files: dict[str, list[str]] = field(default_factory=dict)
    seen: set[SeriesKey] = field(default_factory=set)
    samples: list[Sample] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def add(self, path: str, family: Family) -> None:
        conflict = self._conflict(family)
        if conflict:
            event = "textfile_inconsistent_family"
            self.problems.append(_problem(event, file=path, metric=family.name, error=conflict))
            return
        self.first.setdefault(family.name, family)
        if family.help is not None:
            self.help.setdefault(family.name, family.help)
        self.files.setdefault(family.name, []).append(path)
        self._add_samples(path, family)

    def _conflict(self, family: Family) -> str | None:
        first = self.first.get(family.name)
        if first is not None and first.kind != family.kind:
            return f"type {family.kind} differs from {first.kind} in {self.files[family.name][0]}"
        known_help = self.help.get(family.name)
        if known_help is not None and family.help is not None and family.help != known_help:
            return f"help text {family.help!r} differs from {known_help!r} in {self.files[family.name][0]}"
        return None

    def _add_samples(self, path: str, family: Family) -> None:
        duplicates = 0
        for sample in family.samples:
            if sample.key in self.seen:
                duplicates += 1
                continue
            self.seen.add(sample.key)
            self.samples.append(sample)
        if duplicates:
            error = f"{duplicates} series already read, dropped"
            self.problems.append(_problem("textfile_duplicate_series", file=path, metric=family.name, error=error))

    def metas(self) -> list[MetricMeta]:
        emitted = {sample.name for sample in self.samples}
        metas: dict[str, MetricMeta] = {}
        for name, family in self.first.items():
            help_text = self.help.get(name) or f"Metric read from {', '.join(self.files[name])}"
            metric_type = _METRIC_TYPES.get(family.kind, MetricType.UNTYPED)
            if _series_names(family) & emitted:
                # A histogram's or summary's _bucket/_sum/_count series belong to the family's own name.
                metas.setdefault(name, MetricMeta(name, metric_type, help_text))
        return list(metas.values())


def _series_names(family: Family) -> set[str]:
    """The sample names a family may have."""
    if family.kind in {"histogram", "summary"}:
        return {family.name, f"{family.name}_bucket", f"{family.name}_sum", f"{family.name}_count"}
    return {family.name}


def _problem(event: str, **fields: str) -> Problem:
    return Problem(event, tuple(fields.items()))


def merge_files(results: Iterable[FileResult]) -> Merged:
    """Combine what each file gave into one read: samples, declarations and problems."""
    merger = _Merger()
    for result in results:
        if result.error is not None:
            merger.problems.append(_problem("textfile_file_failed", file=result.path, error=result.error))
        for family in result.families:
            merger.add(result.path, family)
    return Merged(tuple(merger.samples), tuple(merger.metas()), tuple(merger.problems))


# --- the collector ----------------------------------------------------------------------


class TextfileCollector:
    """Reads the `*.prom` files of one directory each run, as node_exporter's textfile collector.

    With `normalize_float_labels` (promql_compat: 3) histogram `le` and summary `quantile` values
    are written as Prometheus 3 writes them when it scrapes: `le="1"` becomes `le="1.0"`.
    """

    def __init__(self, config: TextfileConfig, *, normalize_float_labels: bool = False) -> None:
        if config.directory is None:
            raise ValueError("the textfile collector needs collectors.textfile.directory")
        self._directory = config.directory
        self._normalize = normalize_float_labels
        self._limits = Limits(config.file_size_limit_bytes, config.sample_limit)
        self._cache: dict[str, tuple[FileKey, FileResult]] = {}
        self._last_read: tuple[tuple[FileResult, ...], Merged] | None = None
        self._reported: frozenset[Problem] = frozenset()

    @property
    def name(self) -> str:
        """The `collector` label: always `textfile`."""
        return "textfile"

    @property
    def instance(self) -> str:
        """The `instance` label: `default`."""
        return "default"

    def metrics(self) -> Sequence[MetricMeta]:
        """The families of the last read, then the collector's own two."""
        metas = self._last_read[1].metas if self._last_read else ()
        return [*metas, MTIME, SCRAPE_ERROR, FILE_ERROR]

    def collect(self) -> Sequence[Sample]:
        """Read the directory; never raises for a missing directory or a bad file."""
        try:
            listing = self._list()
        except OSError as exc:
            self._last_read = None
            self._report([_problem("textfile_directory_unreadable", directory=self._directory, error=str(exc))])
            return [Sample(SCRAPE_ERROR.name, NO_LABELS, 1.0)]
        results = tuple(self._read(path, key) for path, key in listing)
        merged = self._merge(results)
        self._report(merged.problems)
        scrape_error = Sample(SCRAPE_ERROR.name, NO_LABELS, float(bool(merged.problems)))
        return [*merged.samples, *_mtimes(results), *_file_errors(results), scrape_error]

    def _list(self) -> list[tuple[str, FileKey | None]]:
        """The `*.prom` files in name order, each with its identity (None if stat fails)."""
        with os.scandir(self._directory) as entries:
            names = sorted(entry.name for entry in entries if entry.name.endswith(SUFFIX))
        paths = [os.path.join(self._directory, name) for name in names]
        self._cache = {path: self._cache[path] for path in paths if path in self._cache}
        return [(path, _stat_key(path)) for path in paths]

    def _read(self, path: str, key: FileKey | None) -> FileResult:
        cached = self._cache.get(path)
        if cached is not None and key is not None and cached[0] == key:
            return cached[1]
        read_key, result = read_textfile(path, self._limits)
        if self._normalize:
            result = replace(result, families=tuple(normalize_float_labels(f) for f in result.families))
        if read_key is not None:
            self._cache[path] = (read_key, result)
        return result

    def _merge(self, results: tuple[FileResult, ...]) -> Merged:
        """Combine the files, reusing the last combination when every file came from the cache."""
        last = self._last_read
        if (
            last is not None
            and len(last[0]) == len(results)
            and all(a is b for a, b in zip(last[0], results, strict=True))
        ):
            return last[1]
        merged = merge_files(results)
        self._last_read = (results, merged)
        return merged

    def _report(self, problems: Iterable[Problem]) -> None:
        """Log problems that are new since the last read: quiet while nothing changes."""
        current = frozenset(problems)
        for problem in sorted(current - self._reported, key=lambda p: (p.event, p.fields)):
            problem.log()
        self._reported = current


def normalize_float_labels(family: Family) -> Family:
    """Prometheus 3's normalizeFloatsInLabelValues: `le` of histograms, `quantile` of summaries as floats."""
    label = {"histogram": "le", "summary": "quantile"}.get(family.kind)
    if label is None:
        return family
    samples = tuple(
        replace(sample, labels=tuple((k, _float_label(v) if k == label else v) for k, v in sample.labels))
        for sample in family.samples
    )
    return replace(family, samples=samples)


def _float_label(text: str) -> str:
    """labels.FormatOpenMetricsFloat of the value, or the text itself when it is not a number."""
    try:
        value = float(text)
    except ValueError:
        return text
    return format_openmetrics_float(value)


def _all_same(before: tuple[FileResult, ...], now: tuple[FileResult, ...]) -> bool:
    """Whether every file's result is the very one of the last read (so came from the cache)."""
    return len(before) == len(now) and all(a is b for a, b in zip(before, now, strict=True))


def _stat_key(path: str) -> FileKey | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None  # reading it will fail too, and say why
    return (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _file_errors(results: Iterable[FileResult]) -> list[Sample]:
    return [
        Sample(FILE_ERROR.name, labels_of(file=result.path, reason=result.reason), 1.0)
        for result in results
        if result.error is not None
    ]


def _mtimes(results: Iterable[FileResult]) -> list[Sample]:
    return [
        Sample(MTIME.name, labels_of(file=result.path), result.mtime_seconds)
        for result in results
        if result.mtime_seconds is not None
    ]


# --- watching for changes ---------------------------------------------------------------
# inotify read on the event loop: the watch costs nothing until something changes (a watcher
# thread that polled every 50 ms cost ~0.04 CPU s/min, a fifth of an idle daemon at 10 s).

WATCH_DEBOUNCE_MS = 100  # longest a burst of changes is held before on_change
WATCH_STEP_MS = 50  # quiet time that ends a burst
_FILE_CHANGES = Mask.CREATE | Mask.MODIFY | Mask.CLOSE_WRITE | Mask.DELETE | Mask.MOVED_FROM | Mask.MOVED_TO
# The directory itself went (removed, renamed, unmounted): its watch is over.
_DIRECTORY_GONE = Mask.DELETE_SELF | Mask.MOVE_SELF | Mask.UNMOUNT | Mask.IGNORED


async def watch_directory(
    directory: str, on_change: Callable[[], None], stop: asyncio.Event, *, retry_seconds: float = 3.0
) -> None:
    """Call on_change soon after a `*.prom` file appears, changes, is renamed in or goes, until stop."""
    missing = False
    while not stop.is_set():
        if not os.path.isdir(directory):
            if not missing:
                log.warning("textfile_watch_directory_missing", directory=directory)
                missing = True
            await _sleep_unless_stopped(stop, retry_seconds)
            continue
        if missing:
            log.info("textfile_watch_directory_found", directory=directory)
            missing = False
            on_change()  # files may have arrived with the directory
        await _watch_while_present(directory, on_change, stop, retry_seconds)


async def _watch_while_present(
    directory: str, on_change: Callable[[], None], stop: asyncio.Event, retry_seconds: float
) -> None:
    """Watch until stop, or until the directory goes (its watch dies with it)."""
    try:
        with Inotify() as inotify:
            inotify.add_watch(directory, _FILE_CHANGES | Mask.DELETE_SELF | Mask.MOVE_SELF | Mask.ONLYDIR)
            following = asyncio.ensure_future(_follow(inotify, directory, on_change))
            stopped = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({following, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
                following.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await following
    except OSError as exc:  # no inotify watches left, directory raced away
        log.warning("textfile_watch_failed", directory=directory, error=str(exc))
        await _sleep_unless_stopped(stop, retry_seconds)


async def _follow(inotify: Inotify, directory: str, on_change: Callable[[], None]) -> None:
    """Call on_change after each burst of `*.prom` changes; return once the directory is gone."""
    while True:
        event = await inotify.get()
        if event.mask & _DIRECTORY_GONE:
            on_change()  # its files are gone
            return
        if not _is_textfile_change(event):
            continue
        gone = await _rest_of_burst(inotify)
        on_change()
        if gone or not os.path.isdir(directory):
            return


async def _rest_of_burst(inotify: Inotify) -> bool:
    """Take events until WATCH_STEP_MS pass without one or WATCH_DEBOUNCE_MS in all; whether the directory went."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WATCH_DEBOUNCE_MS / 1000
    while (left := deadline - loop.time()) > 0:
        try:
            event = await asyncio.wait_for(inotify.get(), timeout=min(WATCH_STEP_MS / 1000, left))
        except TimeoutError:
            return False
        if event.mask & _DIRECTORY_GONE:
            return True
    return False


def _is_textfile_change(event: Event) -> bool:
    if event.mask & Mask.Q_OVERFLOW:  # events were lost: any file may have changed
        return True
    return event.name is not None and event.name.name.endswith(SUFFIX)


async def _sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
