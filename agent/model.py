"""Small frozen types shared by every stage of the pipeline."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# A label set without `__name__`, sorted by label name. A plain tuple keeps
# series keys cheap to hash and compare, which matters at 100,000 series.
Labels = tuple[tuple[str, str], ...]

NO_LABELS: Labels = ()


def labels_of(mapping: Mapping[str, str] | Iterable[tuple[str, str]] = (), **extra: str) -> Labels:
    """Build a canonical (sorted, empty values dropped) label set."""
    items = dict(mapping)
    items.update(extra)
    return tuple(sorted((k, v) for k, v in items.items() if v != ""))


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """Identity of a series: metric name plus label set."""

    name: str
    labels: Labels = NO_LABELS


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one series, as a collector reports it."""

    name: str
    labels: Labels
    value: float

    @property
    def key(self) -> SeriesKey:
        """The series this sample belongs to (name and labels)."""
        return SeriesKey(self.name, self.labels)


class MetricType(enum.Enum):
    """Prometheus metric types, as written in `# TYPE` lines."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"
    SUMMARY = "summary"
    UNTYPED = "untyped"


@dataclass(frozen=True, slots=True)
class MetricMeta:
    """Declaration of one metric family: what `# HELP` and `# TYPE` say."""

    name: str
    type: MetricType
    help: str


def gauge(name: str, help: str) -> MetricMeta:
    """Declare a gauge family."""
    return MetricMeta(name, MetricType.GAUGE, help)


def counter(name: str, help: str) -> MetricMeta:
    """Declare a counter family (its name should end in `_total`)."""
    return MetricMeta(name, MetricType.COUNTER, help)


class AlertState(enum.Enum):
    """Where an alert instance is in Prometheus' state machine."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert instance as the ruler hands it to the notifier (what Alertmanager needs).

    Times are Unix seconds. `starts_at` is when the alert started firing, `ends_at` is
    `resolved_at` once resolved, else the time until which the alert is valid if not re-sent
    (Prometheus' ValidUntil), so a receiver that stops hearing about it resolves it itself.
    """

    labels: Labels  # includes alertname and the external labels
    annotations: Labels
    state: AlertState
    value: float
    active_at: float
    starts_at: float
    ends_at: float
    resolved_at: float | None
    generator_url: str
    rule: str  # "file;group;alertname", the identity of the rule that produced it
    fingerprint: str  # Alertmanager's fingerprint of `labels`

    @property
    def name(self) -> str:
        """The alert's `alertname` label, or "" when it has none."""
        return dict(self.labels).get("alertname", "")


_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_LABEL_SEPARATOR = 0xFF


def fingerprint(labels: Labels) -> str:
    """Alertmanager's fingerprint of a label set: FNV-1a 64 over sorted names and values, hex."""
    h = _FNV_OFFSET
    for name, value in sorted(labels):
        for part in (name, value):
            for byte in part.encode("utf-8"):
                h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
            h = ((h ^ _LABEL_SEPARATOR) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


_QUOTE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _quote_rune(char: str) -> str:
    if char in ('"', "\\"):
        return "\\" + char
    if char.isprintable():
        return char
    if char in _QUOTE_ESCAPES:
        return _QUOTE_ESCAPES[char]
    code = ord(char)
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if 0xD800 <= code <= 0xDFFF:
        return "\\ufffd"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def labels_text(labels: Labels | Mapping[str, str], *, name_label: str = "__name__") -> str:
    """A series or an alert as Prometheus' pages show it: `name{a="1", b="2"}`, labels sorted.

    The name comes from `name_label` (`alertname` for an alert) and is left out of the braces;
    without a name the braces are always there (`{}`), with one they are dropped when empty.
    """
    pairs = dict(labels)
    name = pairs.pop(name_label, "")
    inner = ", ".join(f'{key}="{value}"' for key, value in sorted(pairs.items()))
    return f"{name}{{{inner}}}" if inner or not name else name


def go_quote(text: str) -> str:
    """Go's strconv.Quote (and %q): how Prometheus and Alertmanager quote label values in messages."""
    return '"' + "".join(_quote_rune(char) for char in text) + '"'


def histogram(name: str, help: str) -> MetricMeta:
    """Declare a histogram family (its `_bucket`, `_sum` and `_count` series)."""
    return MetricMeta(name, MetricType.HISTOGRAM, help)


def exponential_buckets(start: float, factor: float, up_to: float) -> tuple[float, ...]:
    """client_golang's ExponentialBuckets, as many as it takes for the last bound to reach `up_to`."""
    bounds = [start]
    while bounds[-1] < up_to:
        bounds.append(bounds[-1] * factor)
    return tuple(bounds)


class Histogram:
    """A Prometheus histogram of observations: cumulative bucket counts, sum and count."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.buckets = [0] * len(bounds)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        """Count one observation in every bucket whose upper bound it does not exceed, and in sum and count."""
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.buckets[i] += 1
        self.total += value
        self.count += 1

    def samples(self, name: str, labels: Labels) -> list[Sample]:
        """`name_bucket{le}` for each bound and +Inf, `name_sum` and `name_count`."""
        out = [
            Sample(f"{name}_bucket", labels_of(labels, le=_format_bound(bound)), float(n))
            for bound, n in zip(self.bounds, self.buckets, strict=True)
        ]
        out.append(Sample(f"{name}_bucket", labels_of(labels, le="+Inf"), float(self.count)))
        out.append(Sample(f"{name}_sum", labels, self.total))
        out.append(Sample(f"{name}_count", labels, float(self.count)))
        return out


def _format_bound(bound: float) -> str:
    """A bucket bound as client_golang writes `le`: the shortest form that reads back the same."""
    return repr(bound).removesuffix(".0") if bound == int(bound) and abs(bound) < 1e15 else repr(bound)
