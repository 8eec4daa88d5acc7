"""`tripwired check`: the smoke test of a deployment pipeline — did the release produce its telemetry?

It runs the configured collectors and rules for a while in a private state directory (or asks
a running agent or any Prometheus-compatible API, `--url`) and checks expectations:

- `--expect-metric EXPR`: the PromQL expression returns at least one series at some moment of
  the window (`orders_written_total > 0` states a bound the PromQL way);
- `--expect-alert NAME`: the alert fires at some moment of the window;
- `--expect-no-alert NAME`: the alert never fires during the whole run.

Without expectations, the check fails if any alert fired. It also fails when it would pass
without having checked anything: no rules and no expectations, no sample collected at all, or an
alert it relies on whose `for` is as long as the run (it could never fire). Exit codes: 0 every
expectation held, 1 one did not (or the check was vacuous), 2 bad usage or config.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TextIO
from xml.etree import ElementTree

from agent.collect.process import ProcessCollector
from agent.config.notifier import AlertingConfig
from agent.config.schema import Config, WalConfig, WalEnabled
from agent.model import Alert, AlertState
from agent.promql import Engine, PromQLError, VectorSample, parse_expr
from agent.ruler.rulefile import RuleKind
from agent.runtime.daemon import Daemon
from agent.runtime.query import QueryError, api_get

POLL_SECONDS = 0.5


class Kind(enum.Enum):
    """What an expectation of `tripwired check` asks for: a series, a firing alert, or an alert that never fires."""

    METRIC = "metric"
    ALERT = "alert"
    NO_ALERT = "no-alert"


@dataclass(frozen=True)
class Expectation:
    """One thing the run must show: a query with a result, an alert that fires, one that never does."""

    kind: Kind
    subject: str  # a PromQL expression, or an alert name

    @property
    def title(self) -> str:
        """The expectation as written on the command line, for the report."""
        return f"--expect-{self.kind.value} {self.subject}"


@dataclass
class Outcome:
    """How one expectation fared; `at` is when it was settled (seconds into the run), for the report."""

    expectation: Expectation
    passed: bool | None = None  # None: not settled yet
    detail: str = ""
    at: float = 0.0


@dataclass
class Verdict:
    """The whole check: each expectation's outcome, what fired, and why it was vacuous if it was."""

    outcomes: list[Outcome]
    fired: list[Fired]
    vacuous: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Whether the check passed: nothing vacuous, every outcome passed; with no expectations, nothing fired."""
        if self.vacuous or any(outcome.passed is not True for outcome in self.outcomes):
            return False
        return bool(self.outcomes) or not self.fired


@dataclass(frozen=True)
class Fired:
    """An alert seen firing during the check: its name, its other labels as text, when it started (0 if remote)."""

    name: str
    labels: str
    since: float


class Source(Protocol):
    """Where a check reads: `query` an instant PromQL expression now, and the alerts that fired so far."""

    def query(self, expr: str) -> list[str]:
        """The series (as text) the expression returns now; raises ValueError for a bad expression."""
        ...

    def firing(self) -> list[Fired]:
        """Every alert seen firing since the check began."""
        ...


class LocalSource:
    """An in-process daemon's store and ruler."""

    def __init__(self, daemon: Daemon) -> None:
        self._engine: Engine = daemon.engine
        self._semantics = daemon.semantics
        self._daemon = daemon
        self.fired: dict[str, Fired] = {}
        forward = daemon.ruler.notify

        def remember(alerts: Sequence[Alert]) -> None:
            self._remember(alerts)
            forward(alerts)

        daemon.ruler.notify = remember

    def _remember(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            if alert.state is AlertState.FIRING:
                self.fired.setdefault(alert.fingerprint, _fired(alert))

    def query(self, expr: str) -> list[str]:
        """The series `expr` returns now, as text; ValueError when it is not an instant vector."""
        value = self._engine.instant(parse_expr(expr, self._semantics), int(time.time() * 1000))
        if not isinstance(value, list) or (value and not isinstance(value[0], VectorSample)):
            raise ValueError(f"{expr}: returns no instant vector")
        return [_series_text(dict(sample.labels), sample.value) for sample in value if isinstance(sample, VectorSample)]

    def firing(self) -> list[Fired]:
        """Every alert seen firing so far in this run, sorted."""
        self._remember(self._daemon.ruler.active_alerts())
        return sorted(self.fired.values(), key=lambda f: (f.name, f.labels))


class RemoteSource:
    """A running tripwired, or any Prometheus-compatible API, by its /api/v1/query and /api/v1/alerts."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.fired: dict[tuple[str, str], Fired] = {}

    def query(self, expr: str) -> list[str]:
        """The series `expr` returns now on the remote daemon, as text; ValueError when it is not a vector."""
        data = api_get(self._url, "/api/v1/query", {"query": expr})
        if data["resultType"] != "vector":
            raise ValueError(f"{expr}: returns a {data['resultType']}, not series")
        return [_series_text(item["metric"], float(item["value"][1])) for item in data["result"]]

    def firing(self) -> list[Fired]:
        """Every alert seen firing on the remote daemon so far, sorted."""
        for alert in api_get(self._url, "/api/v1/alerts")["alerts"]:
            if alert["state"] == "firing":
                labels = {k: v for k, v in alert["labels"].items() if k != "alertname"}
                text = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
                self.fired.setdefault(
                    (alert["labels"]["alertname"], text), Fired(alert["labels"]["alertname"], text, 0)
                )
        return sorted(self.fired.values(), key=lambda f: (f.name, f.labels))


def _series_text(labels: dict[str, str], value: float) -> str:
    name = labels.pop("__name__", "")
    return f"{name}{{{', '.join(f'{k}={v!r}' for k, v in sorted(labels.items()))}}} {value:g}"


def _fired(alert: Alert) -> Fired:
    labels = ", ".join(f'{k}="{v}"' for k, v in alert.labels if k != "alertname")
    return Fired(alert.name, labels, alert.starts_at)


def settle(outcomes: Sequence[Outcome], source: Source, elapsed: float) -> None:
    """Look once: settle what the source now shows (a metric seen, an alert fired, an unwanted one fired)."""
    firing = {fired.name for fired in source.firing()}
    for outcome in outcomes:
        if outcome.passed is not None:
            continue
        kind, subject = outcome.expectation.kind, outcome.expectation.subject
        if kind is Kind.METRIC:
            series = source.query(subject)
            if series:
                outcome.passed, outcome.detail = True, f"{len(series)} series, e.g. {series[0]}"
        elif kind is Kind.ALERT and subject in firing:
            outcome.passed, outcome.detail = True, "fired"
        elif kind is Kind.NO_ALERT and subject in firing:
            outcome.passed, outcome.detail = False, "fired"
        if outcome.passed is not None:
            outcome.at = elapsed


_NOT_SEEN = {Kind.METRIC: "no series", Kind.ALERT: "never fired", Kind.NO_ALERT: "did not fire"}


def conclude(outcomes: Sequence[Outcome], elapsed: float) -> None:
    """The window is over: what has not happened by now did not happen."""
    for outcome in outcomes:
        if outcome.passed is None:
            kind = outcome.expectation.kind
            outcome.passed = kind is Kind.NO_ALERT
            outcome.detail = _NOT_SEEN[kind]
            outcome.at = elapsed


def _settled(outcomes: Sequence[Outcome]) -> bool:
    """Whether the run may stop early: every expectation decided, none of them waiting out the window."""
    return bool(outcomes) and all(o.passed is not None for o in outcomes)


async def watch(
    source: Source, expectations: Sequence[Expectation], seconds: float, clock: Callable[[], float] = time.monotonic
) -> Verdict:
    """Look every POLL_SECONDS until every expectation is settled or `seconds` are over."""
    outcomes = [Outcome(e) for e in expectations]
    started = clock()
    while (elapsed := clock() - started) < seconds:
        await asyncio.to_thread(settle, outcomes, source, elapsed)
        if _settled(outcomes):
            break
        await asyncio.sleep(min(POLL_SECONDS, max(0.0, seconds - (clock() - started))))
    else:
        await asyncio.to_thread(settle, outcomes, source, clock() - started)
    conclude(outcomes, clock() - started)
    return Verdict(outcomes, source.firing(), seconds=clock() - started)


def isolated(config: Config, *, state_dir: str, notify: bool) -> Config:
    """`config` for a one-shot check: a private state directory, no WAL, and no receivers unless `notify`."""
    store = dataclasses.replace(config.store, wal=WalConfig(enabled=WalEnabled.FALSE))
    config = dataclasses.replace(config, state_dir=state_dir, store=store)
    if notify:
        return config
    return dataclasses.replace(
        config, route=None, receivers=[], inhibit_rules=[], alertmanagers=[], alerting=AlertingConfig()
    )


def vacuous_reasons(daemon: Daemon, expectations: Sequence[Expectation], seconds: float) -> list[str]:
    """Why a check of this daemon could pass without checking anything (before it runs)."""
    alert_specs = [
        (group.file, spec)
        for group in daemon.ruler.groups()
        for spec in group.spec.rules
        if spec.kind is RuleKind.ALERT
    ]
    if not alert_specs and not expectations:
        return ["nothing to check: the config loads no alerting rule and no --expect-* was given"]
    relied_on = {e.subject for e in expectations if e.kind is Kind.NO_ALERT}
    return [
        f"{file}: alert {spec.name} has for {spec.hold_ms / 1000:g}s, as long as the {seconds:g}s run: "
        "it could never fire (run longer)"
        for file, spec in alert_specs
        if spec.hold_ms >= seconds * 1000 and (not expectations or spec.name in relied_on)
    ]


async def check_daemon(
    daemon: Daemon, expectations: Sequence[Expectation], seconds: float, *, notify: bool = False
) -> Verdict:
    """Run the daemon's collectors and rules (and with `notify` its notifications) while watching."""
    for expectation in expectations:  # a typo is a usage error now, not a failure after the whole run
        if expectation.kind is Kind.METRIC:
            try:
                parse_expr(expectation.subject, daemon.semantics)
            except PromQLError as exc:
                raise ValueError(f"{expectation.title}: {exc}") from None
    vacuous = vacuous_reasons(daemon, expectations, seconds)
    if vacuous:
        return Verdict([Outcome(e) for e in expectations], [], vacuous)
    source = LocalSource(daemon)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(daemon.runner.run(stop)), asyncio.create_task(daemon.run_ruler(stop))]
    if notify:
        tasks += [asyncio.create_task(task) for task in daemon.notifications.tasks(stop)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(daemon.runner.ready.wait(), timeout=seconds)
    try:
        verdict = await watch(source, expectations, seconds)
        daemon.ruler.evaluate_due()
        verdict.fired = source.firing()
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await daemon.notifications.close()
    verdict.vacuous += _collection_problems(daemon)
    return verdict


def _collection_problems(daemon: Daemon) -> list[str]:
    """A check whose collectors read nothing checked only the absence of data (the agent's own process aside)."""
    states = [state for state in daemon.runner.states if not isinstance(state.collector, ProcessCollector)]
    if not states:
        return ["no collector is enabled: nothing was collected"]
    if not any(state.up for state in states):
        errors = "; ".join(f"{s.collector.name}: {s.last_error}" for s in states if s.last_error)
        return [f"no collector succeeded ({errors})" if errors else "no collector ran"]
    return []


async def check_url(url: str, expectations: Sequence[Expectation], seconds: float) -> Verdict:
    """Watch a running agent or Prometheus; without expectations, no alert may fire while it is watched."""
    try:
        return await watch(RemoteSource(url), expectations, seconds)
    except QueryError as exc:
        return Verdict([Outcome(e, False, "not checked") for e in expectations], [], [str(exc)])


def report(verdict: Verdict, out: TextIO) -> int:
    """Print the outcome of each expectation and what fired; the exit code (0 pass, 1 fail)."""
    for reason in verdict.vacuous:
        out.write(f"FAIL  {reason}\n")
    for outcome in verdict.outcomes:
        mark = "ok  " if outcome.passed else "FAIL"
        out.write(f"{mark}  {outcome.expectation.title}: {outcome.detail} ({outcome.at:.1f}s)\n")
    if verdict.fired:
        width = max(len("ALERT"), *(len(f.name) for f in verdict.fired))
        out.write(f"{'ALERT':<{width}}  LABELS\n")
        for f in verdict.fired:
            out.write(f"{f.name:<{width}}  {{{f.labels}}}\n")
    else:
        out.write("no alert fired\n")
    return 0 if verdict.passed else 1


def junit(verdict: Verdict) -> bytes:
    """The verdict as JUnit XML: one test case per expectation (or "no alert fired"), one per vacuity."""
    suite = ElementTree.Element("testsuite", name="tripwired check", time=f"{verdict.seconds:.3f}")
    cases: list[tuple[str, bool, str, float]] = [(reason, False, reason, 0.0) for reason in verdict.vacuous]
    cases += [(o.expectation.title, bool(o.passed), o.detail, o.at) for o in verdict.outcomes]
    if not verdict.outcomes:
        fired = ", ".join(f"{f.name}{{{f.labels}}}" for f in verdict.fired)
        cases.append(("no alert fires", not verdict.fired, f"fired: {fired}" if fired else "", verdict.seconds))
    for name, passed, detail, seconds in cases:
        case = ElementTree.SubElement(suite, "testcase", classname="tripwired.check", name=name, time=f"{seconds:.3f}")
        if not passed:
            ElementTree.SubElement(case, "failure", message=detail).text = detail
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(not passed for _, passed, _, _ in cases)))
    document: bytes = ElementTree.tostring(suite, encoding="utf-8", xml_declaration=True)
    return document
