"""A deterministic sample set for the Prometheus API oracle test, written as OpenMetrics text.

Three hours of history from T0 (2023-11-14T22:13:20Z, not on a 2 h block boundary, so the
backfill makes three blocks): counters with resets, gauges, histogram buckets, label values
with quotes, backslashes, newlines and non-ASCII characters, recording-rule names with colons,
series that end early or start late, values at the edges of number formatting and
timestamps off the whole second.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

T0 = 1_700_000_000  # seconds
STEP = 30  # seconds between points
SPAN = 3 * 3600  # seconds of history

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SeriesData:
    """One series: metric name, labels (without __name__) and points as (milliseconds, value)."""

    name: str
    labels: Labels
    points: tuple[tuple[int, float], ...]


def _times(start: int = T0, end: int = T0 + SPAN, offset_ms: int = 0) -> list[int]:
    return [t * 1000 + offset_ms for t in range(start, end + 1, STEP)]


def _counter(rng: random.Random, times: list[int], rate: float, resets: tuple[int, ...] = ()) -> list[float]:
    value, out = 0.0, []
    for i, _ in enumerate(times):
        value = 0.0 if i in resets else value + round(rng.uniform(0, rate), 3)
        out.append(value)
    return out


def _series(name: str, labels: dict[str, str], times: list[int], values: list[float]) -> SeriesData:
    return SeriesData(name, tuple(sorted(labels.items())), tuple(zip(times, values, strict=True)))


def _cpu(rng: random.Random) -> Iterator[SeriesData]:
    times = _times()
    for cpu in range(4):
        for mode in ("idle", "iowait", "system", "user"):
            resets = (200,) if (cpu, mode) == (1, "user") else ()
            labels = {"cpu": str(cpu), "mode": mode, "instance": "host-a:9100", "job": "node"}
            yield _series("node_cpu_seconds_total", labels, times, _counter(rng, times, 30.0, resets))


def _memory(rng: random.Random) -> Iterator[SeriesData]:
    times = _times()
    for host in "abcde":
        values = [float(rng.randrange(1, 16) * 2**30 + rng.randrange(0, 4096)) for _ in times]
        yield _series("node_memory_MemAvailable_bytes", {"instance": f"host-{host}:9100", "job": "node"}, times, values)


def _histogram(rng: random.Random) -> Iterator[SeriesData]:
    times = _times()
    bounds = ("0.005", "0.01", "0.1", "1", "+Inf")
    for handler in ("/", "/api/v1/query", '/weird"quote'):
        counts = [[0.0] * len(bounds) for _ in times]
        total_sum, sums = 0.0, []
        for i in range(len(times)):
            previous = counts[i - 1] if i else [0.0] * len(bounds)
            new = sorted(rng.randrange(0, 20) for _ in bounds)  # cumulative within one scrape
            counts[i] = [p + n for p, n in zip(previous, new, strict=True)]
            total_sum += round(rng.uniform(0, 5), 3)
            sums.append(round(total_sum, 3))
        for j, le in enumerate(bounds):
            yield _series(
                "http_request_duration_seconds_bucket", {"handler": handler, "le": le}, times, [c[j] for c in counts]
            )
        yield _series("http_request_duration_seconds_sum", {"handler": handler}, times, sums)
        yield _series("http_request_duration_seconds_count", {"handler": handler}, times, [c[-1] for c in counts])


def _kafka(rng: random.Random) -> Iterator[SeriesData]:
    times = _times()
    for group in ("g1", "g2", "g3", "g4"):
        for topic in ("orders", "payments", "clicks"):
            for partition in range(5):
                labels = {"consumergroup": group, "topic": topic, "partition": str(partition)}
                yield _series("kafka_consumergroup_lag", labels, times, [float(rng.randrange(0, 5000)) for _ in times])


ODD_VALUES = (
    'say "hi"',
    "back\\slash",
    "two\nlines",
    "café ☃",
    "with spaces, commas=and{braces}",
    "trailing\\",
    "tab\there",
    "ünïcödé/🚀",
)


def _odd(rng: random.Random) -> Iterator[SeriesData]:
    times = _times()
    for i, value in enumerate(ODD_VALUES):
        yield _series("odd_labels", {"v": value, "i": str(i)}, times, [float(rng.randrange(0, 100)) for _ in times])


def _lifetimes(rng: random.Random) -> Iterator[SeriesData]:
    for i in range(10):
        times = _times(end=T0 + 900 * (i + 1))  # every 15 minutes another one stops
        yield _series("ending_series", {"id": str(i)}, times, [float(i) for _ in times])
    for i in range(10):
        times = _times(start=T0 + 3600 + 600 * i)  # from the second hour on
        yield _series("late_start", {"id": str(i)}, times, [float(rng.randrange(0, 10)) for _ in times])


EDGE_VALUES = (
    ("tiny", 1e-7),
    ("small", 1.5e-6),
    ("huge", 1e21),
    ("big", 1e20),
    ("enormous", 1.5e300),
    ("nan", float("nan")),
    ("inf", float("inf")),
    ("minus_inf", float("-inf")),
    ("tenth", 0.1),
    ("long", 123456789.123456),
    ("negative", -42.5),
    ("zero", 0.0),
)


def _edges() -> Iterator[SeriesData]:
    times = _times()
    for kind, value in EDGE_VALUES:
        yield _series("values_edge", {"kind": kind}, times, [value for _ in times])


def _misc(rng: random.Random) -> Iterator[SeriesData]:
    times = _times()
    for job in ("api", "web", "worker"):
        yield _series("job:requests:rate5m", {"job": job}, times, [round(rng.uniform(0, 100), 4) for _ in times])
        for n in range(3):
            values = [0.0 if 100 <= i < 110 and n == 1 else 1.0 for i in range(len(times))]
            yield _series("up", {"job": job, "instance": f"{job}-{n}:8080"}, times, values)
    fractional = _times(offset_ms=250)
    yield _series("fractional_timestamps", {"id": "a"}, fractional, [float(i) for i in range(len(fractional))])
    for i in range(100):
        labels = {"device": f"sd{chr(97 + i % 26)}{i // 26}", "mountpoint": f"/data/{i}", "fstype": "ext4"}
        base = rng.randrange(1, 1000) * 2**20
        yield _series("node_filesystem_avail_bytes", labels, times, [float(base - 4096 * k) for k in range(len(times))])


def sample_set(seed: int = 17) -> list[SeriesData]:
    """Every series of the oracle test, the same on every run."""
    rng = random.Random(seed)
    return [
        *_cpu(rng),
        *_memory(rng),
        *_histogram(rng),
        *_kafka(rng),
        *_odd(rng),
        *_lifetimes(rng),
        *_edges(),
        *_misc(rng),
    ]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def openmetrics_text(series: list[SeriesData]) -> str:
    """The samples as OpenMetrics text with timestamps, one family after the other, `# EOF` last."""
    lines = []
    for s in sorted(series, key=lambda s: s.name):  # a family's series together (stable: same order)
        labels = ",".join(f'{k}="{_escape(v)}"' for k, v in s.labels)
        head = f"{s.name}{{{labels}}}" if labels else s.name
        lines.extend(f"{head} {_number(v)} {t // 1000}.{t % 1000:03d}" for t, v in s.points)
    return "\n".join(lines) + "\n# EOF\n"
