"""`tripwired verify`: did the release move its metrics the way it should? Pass, fail or inconclusive.

Each check of the checks file (agent/config/verify.py) is measured `count` times, `interval`
apart, by an instant query on the agent's or any Prometheus' /api/v1/query. A measurement is data
(phase, value, baseline, time); its phase comes from the conditions, and the check's phase is a
pure function of its measurements and limits, as in Argo Rollouts' analysis:

- a measurement is inconclusive when the query returns no series or NaN, when a condition needs
  the baseline and there is none, or when both conditions are given and neither holds;
- a query that fails (unreachable API, refused query, several series) is an error measurement:
  retried at the next interval and not counted towards `count`;
- a check fails once more measurements failed than `failure_limit`, errs once more queries in a
  row failed than `consecutive_error_limit`, is inconclusive once more measurements were
  inconclusive than `inconclusive_limit`, and passes after `count` measurements otherwise (with
  at least one successful measurement: a check never passes on no evidence).

The baseline is the same query averaged over `baseline_window` before the release marker:
`avg_over_time((QUERY)[WINDOW:STEP])` evaluated at the marker's time.
"""

from __future__ import annotations

import asyncio
import enum
import json
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from agent.config.verify import CheckSpec
from agent.runtime.query import QueryError, instant_query

RELEASE_TIMESTAMP_METRIC = "tripwired_release_timestamp_seconds"
ERROR_RETRY_SECONDS = 1.0  # between a failed query and the next try, for a check without an interval


class Phase(enum.Enum):
    """The phase of a measurement, a check or the whole verification (Argo Rollouts' names)."""

    SUCCESSFUL = "successful"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


# Exit codes: an error (the query could not be measured) fails the release, as in Argo Rollouts.
EXIT_CODES = {Phase.SUCCESSFUL: 0, Phase.FAILED: 1, Phase.ERROR: 1, Phase.INCONCLUSIVE: 2}
EXIT_USAGE = 3  # a bad checks file or command line: distinct from inconclusive


@dataclass(frozen=True)
class Measurement:
    """One look at a check's query: its phase, the value, the baseline it was compared with, when."""

    phase: Phase
    at: float  # Unix seconds
    value: float | None = None
    baseline: float | None = None
    message: str = ""


@dataclass(frozen=True)
class Release:
    """The release marker: the baseline window ends at `at`; `note` says where it came from or why it is missing."""

    at: float | None
    name: str = ""
    note: str = ""


@dataclass
class CheckResult:
    """A check's measurements and, once decided, its phase."""

    spec: CheckSpec
    measurements: list[Measurement] = field(default_factory=list)
    phase: Phase | None = None

    @property
    def summary(self) -> str:
        """Why the check ended as it did, in a few words."""
        counts = {p: sum(m.phase is p for m in self.measurements) for p in Phase}
        text = ", ".join(f"{n} {p.value}" for p, n in counts.items() if n)
        return f"{len(self.measurements)} measurement(s): {text}" if text else "no measurement"


class MeasureError(Exception):
    """A query that could not give a check's value: unreachable API, refused query, several series."""


class Source(Protocol):
    """Where verify reads: one instant query, at a time (Unix seconds) or now."""

    def value(self, expr: str, at: float | None = None) -> float | None:
        """The one value the query returns, None for no series; raises MeasureError otherwise."""
        ...


class PrometheusSource:
    """The /api/v1/query of a running tripwired or of any Prometheus-compatible API."""

    def __init__(self, url: str) -> None:
        """Ask the API at `url` (scheme, host, port and an optional path prefix)."""
        self.url = url

    def value(self, expr: str, at: float | None = None) -> float | None:
        """The query's single value (a scalar, or a vector of one series), None when it returns no series."""
        try:
            data = instant_query(self.url, expr, at)
        except QueryError as exc:
            raise MeasureError(str(exc)) from None
        return single_value(data)


def single_value(data: dict[str, Any]) -> float | None:
    """The value of an instant query's `data`; a check compares one number, so several series are an error."""
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        return float(result[1])
    if kind != "vector":
        raise MeasureError(f"the query returns a {kind}, not a number")
    if len(result) > 1:
        raise MeasureError(f"the query returns {len(result)} series; aggregate them to one (e.g. with sum())")
    return float(result[0]["value"][1]) if result else None


def judge(spec: CheckSpec, value: float | None, baseline: float | None, baseline_note: str = "") -> tuple[Phase, str]:
    """A measurement's phase from its value (and baseline) and the check's conditions, with the reason."""
    if value is None:
        return Phase.INCONCLUSIVE, "no data: the query returned no series"
    if math.isnan(value):
        return Phase.INCONCLUSIVE, "no data: the query returned NaN"
    if spec.uses_baseline and (baseline is None or math.isnan(baseline)):
        return Phase.INCONCLUSIVE, f"no baseline: {baseline_note or 'the query returned no series before the release'}"
    if spec.failure_condition is not None and spec.failure_condition.holds(value, baseline):
        return Phase.FAILED, f"failure_condition holds: {spec.failure_condition}"
    if spec.success_condition is None:
        return Phase.SUCCESSFUL, f"failure_condition does not hold: {spec.failure_condition}"
    if spec.success_condition.holds(value, baseline):
        return Phase.SUCCESSFUL, f"success_condition holds: {spec.success_condition}"
    if spec.failure_condition is not None:
        return Phase.INCONCLUSIVE, "neither success_condition nor failure_condition holds"
    return Phase.FAILED, f"success_condition does not hold: {spec.success_condition}"


def assess(spec: CheckSpec, measurements: Sequence[Measurement]) -> Phase | None:
    """The check's phase from its measurements so far, or None to keep measuring."""
    count = {p: sum(m.phase is p for m in measurements) for p in Phase}
    errors_in_a_row = 0
    for measurement in reversed(measurements):
        if measurement.phase is not Phase.ERROR:
            break
        errors_in_a_row += 1
    if count[Phase.FAILED] > spec.failure_limit:
        return Phase.FAILED
    if errors_in_a_row > spec.consecutive_error_limit:
        return Phase.ERROR
    if count[Phase.INCONCLUSIVE] > spec.inconclusive_limit:
        return Phase.INCONCLUSIVE
    if len(measurements) - count[Phase.ERROR] < spec.count:  # a query error is retried, not counted
        return None
    if count[Phase.SUCCESSFUL]:
        return Phase.SUCCESSFUL
    # Every measurement was tolerated, none succeeded: the worst of what was seen, never a pass.
    return next(p for p in (Phase.FAILED, Phase.ERROR, Phase.INCONCLUSIVE) if count[p])


def overall(results: Sequence[CheckResult]) -> Phase:
    """The verification's phase: failed or erred if any check did, else inconclusive if any was, else passed."""
    phases = {r.phase for r in results}
    for phase in (Phase.FAILED, Phase.ERROR, Phase.INCONCLUSIVE):
        if phase in phases:
            return phase
    return Phase.SUCCESSFUL


def baseline_expr(spec: CheckSpec) -> str:
    """The check's query averaged over its baseline window, to be evaluated at the release marker."""
    window_ms, step_ms = round(float(spec.baseline_window) * 1000), max(1, round(spec.step * 1000))
    return f"avg_over_time((\n{spec.query}\n)[{window_ms}ms:{step_ms}ms])"


def find_release(source: PrometheusSource, name: str) -> Release:
    """The release marker `tripwired release mark NAME` wrote, as the agent (or a Prometheus) exports it."""
    selector = f'{RELEASE_TIMESTAMP_METRIC}{{release="{_escape(name)}"}}'
    try:
        at = source.value(f"max({selector})")
    except MeasureError as exc:
        return Release(None, name, f"release marker {selector} not read: {exc}")
    if at is None:
        return Release(None, name, f"release marker {selector} not found")
    return Release(at, name, f"from {selector}")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Baseline:
    """A check's baseline, asked once; an error is asked again at the next measurement."""

    def __init__(self, spec: CheckSpec, release: Release) -> None:
        self.spec, self.release = spec, release
        self.known = False
        self.value: float | None = None
        self.note = release.note if release.at is None else ""

    def get(self, source: Source) -> float | None:
        if not self.known and self.release.at is not None:
            self.value = source.value(baseline_expr(self.spec), self.release.at)
            self.known = True
            window = f"the {self.spec.baseline_window:g}s before the release"
            if self.value is None:
                self.note = f"the query returned no series in {window}"
            elif math.isnan(self.value):
                self.note = f"the query's average over {window} is NaN (a NaN point, e.g. 0/0, makes it so)"
        return self.value


def measure(spec: CheckSpec, source: Source, baseline: _Baseline, now: float) -> Measurement:
    """Take one measurement of the check (blocking: run it in a worker thread)."""
    try:
        value = source.value(spec.query)
        base = baseline.get(source) if spec.uses_baseline else None
    except MeasureError as exc:
        return Measurement(Phase.ERROR, now, message=str(exc))
    phase, message = judge(spec, value, base, baseline.note)
    return Measurement(phase, now, value, base, message)


async def run_check(
    spec: CheckSpec,
    source: Source,
    release: Release,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> CheckResult:
    """Measure the check until its phase is decided."""
    result, baseline = CheckResult(spec), _Baseline(spec, release)
    await sleep(float(spec.initial_delay))
    while True:
        result.measurements.append(await asyncio.to_thread(measure, spec, source, baseline, time.time()))
        result.phase = assess(spec, result.measurements)
        if result.phase is not None:
            return result
        await sleep(float(spec.interval or ERROR_RETRY_SECONDS))


async def verify(checks: Sequence[CheckSpec], source: Source, release: Release) -> list[CheckResult]:
    """Run every check at once, each on its own schedule."""
    return list(await asyncio.gather(*(run_check(spec, source, release) for spec in checks)))


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def report(results: Sequence[CheckResult], release: Release, url: str, out: TextIO) -> int:
    """Print the verification as text: one line per check, its measurements when it did not pass; the exit code."""
    phase = overall(results)
    where = f"release {release.name!r} " if release.name else "release "
    marker = f"{where}marker missing ({release.note})"
    if release.at is not None:
        marker = f"{where}at {_iso(release.at)}" + (f" ({release.note})" if release.note else "")
    out.write(f"verify against {url}: {marker}\n")
    width = max(len(r.spec.name) for r in results)
    for result in results:
        mark = (result.phase or Phase.ERROR).value.upper()
        out.write(f"{mark:<13} {result.spec.name:<{width}}  {result.summary}\n")
        if result.phase is not Phase.SUCCESSFUL:
            for m in result.measurements:
                out.write(
                    f"    {_iso(m.at)}  {m.phase.value:<12} result {_number(m.value)}"
                    f"  baseline {_number(m.baseline)}  {m.message}\n"
                )
    failed = sum(r.phase is not Phase.SUCCESSFUL for r in results)
    out.write(f"verification {phase.value.upper()}: {len(results) - failed} of {len(results)} checks passed\n")
    return EXIT_CODES[phase]


def as_json(results: Sequence[CheckResult], release: Release, url: str) -> dict[str, Any]:
    """The verification as a JSON document for machines: phase, exit code, the release, every measurement."""
    phase = overall(results)
    return {
        "phase": phase.value,
        "exit_code": EXIT_CODES[phase],
        "url": url,
        "release": {"name": release.name or None, "time": release.at, "note": release.note},
        "checks": [
            {
                "name": r.spec.name,
                "phase": (r.phase or Phase.ERROR).value,
                "query": str(r.spec.query),
                "success_condition": r.spec.success_condition,
                "failure_condition": r.spec.failure_condition,
                "measurements": [
                    {"phase": m.phase.value, "time": m.at, "value": _finite(m.value), "baseline": _finite(m.baseline)}
                    | {"message": m.message}
                    for m in r.measurements
                ],
            }
            for r in results
        ],
    }


def _finite(value: float | None) -> float | str | None:
    """JSON has no NaN or infinity: those are written as Prometheus writes them, as strings."""
    if value is None or math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")


def write_json(results: Sequence[CheckResult], release: Release, url: str, out: TextIO) -> int:
    """Print the verification as JSON; the exit code."""
    document = as_json(results, release, url)
    out.write(json.dumps(document, indent=2) + "\n")
    return int(document["exit_code"])
