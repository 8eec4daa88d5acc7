"""The rule manager: loads rule files, evaluates each group at its interval or when its input changes.

Like Prometheus' rules.Manager it knows neither collectors nor notifiers: it is handed the
store, a clock and a `notify` function. Groups are evaluated at their interval; `trigger`
also evaluates right away every group that reads a metric that just changed (at most once
per `min_spacing_s`), so a tripwire never waits for the next tick.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import structlog

from agent.clock import Clock
from agent.lograte import RepeatedFailure
from agent.model import Alert, Labels, Sample, counter, gauge, labels_of
from agent.promql import DEFAULT_SEMANTICS, Engine, Semantics
from agent.ruler.alerting import ALERTS_FOR_STATE_METRIC, ActiveAlert, RestorePolicy, restore_for_state
from agent.ruler.group import Group, GroupEvaluation, alert_rule_keys
from agent.ruler.rulefile import GroupSpec, RuleFileError, expand_rule_globs, load_rule_files
from agent.ruler.rules import ExternalInfo, QueryEngine
from agent.ruler.state import AlertStateStore, RuleKey, persisted_shape
from agent.store import Storage

log = structlog.get_logger(__name__)

Notify = Callable[[Sequence[Alert]], None]

MIN_TRIGGER_SPACING_S = 0.2

SELF_METRICS = (
    gauge(
        "tripwired_rule_evaluation_duration_seconds",
        "Duration of the last evaluation of each rule (summed over rules of the same name in a group).",
    ),
    counter("tripwired_rule_evaluation_failures_total", "Rule evaluations that failed, per rule group."),
    counter(
        "tripwired_rule_group_iterations_missed_total",
        "Scheduled rule group evaluations skipped because the previous one ran late.",
    ),
    counter("tripwired_rule_group_iterations_total", "Rule group evaluations, scheduled or triggered."),
    gauge("tripwired_rule_group_last_duration_seconds", "Duration of the last evaluation of the rule group."),
    gauge("tripwired_rule_group_interval_seconds", "The interval of the rule group."),
    gauge("ALERTS", "Pending and firing alerts, one series per alert, alertstate label."),
    gauge("ALERTS_FOR_STATE", "Unix time at which each pending or firing alert became active."),
)


class RuleLoadError(Exception):
    """A rule set that cannot be loaded; the previous one keeps running. `errors` lists every problem."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)


@dataclass(slots=True)
class _Schedule:
    """When a group runs next, and its counters (which survive reloads of the group)."""

    next_s: float
    triggered_s: float | None = None
    last_run_s: float | None = None
    failures: int = 0
    missed: int = 0
    iterations: int = 0


class RuleManager:
    """Runs the loaded rule groups over the store and hands alerts to `notify`."""

    def __init__(
        self,
        *,
        store: Storage,
        clock: Clock,
        notify: Notify,
        evaluation_interval_s: float,
        external_labels: Mapping[str, str],
        external_url: str,
        state: AlertStateStore | None = None,
        engine: QueryEngine | None = None,
        min_spacing_s: float = MIN_TRIGGER_SPACING_S,
        restore_policy: RestorePolicy | None = None,
        semantics: Semantics = DEFAULT_SEMANTICS,
    ) -> None:
        self.store = store
        self.clock = clock
        self.notify = notify
        self.default_interval_ms = int(evaluation_interval_s * 1000)
        self.external = ExternalInfo(labels_of(external_labels), external_url)
        self.state = state
        self.semantics = semantics
        self.engine: QueryEngine = engine if engine is not None else Engine(store, semantics=semantics)
        self.min_spacing_s = min_spacing_s
        self._groups: dict[str, Group] = {}
        self._schedules: dict[str, _Schedule] = {}
        self._saved: dict[RuleKey, object] = {}
        self._save_failures = RepeatedFailure("alert_state_save_failed", clock.monotonic)
        self._restored = unsent(state.load()) if state is not None else {}
        self.restore_policy = restore_policy or RestorePolicy()
        self._restoring: set[str] = set()  # groups given persisted alerts, restored at their first evaluation
        self._wake = asyncio.Event()
        store.declare(SELF_METRICS)

    # -- loading ---------------------------------------------------------------

    def load(self, files: Sequence[str]) -> None:
        """Load rule files (globs allowed), keeping the state of groups that carry over.

        Raises RuleLoadError with every error when any file is bad; nothing changes then.
        """
        specs = self._parse(files)
        new = {spec.key: self._carry_over(spec, self._groups.get(spec.key)) for spec in specs}
        now = self.clock.time()
        for old in self._groups.values():
            self._drop_sources(old, new.get(old.key), int(now * 1000))
        self._groups = new
        for key in new:
            self._schedules.setdefault(key, _Schedule(next_s=now))
        if self.state is not None:
            self.state.retain((g.key, k) for g in new.values() for k, _ in alert_rule_keys(g))
        log.info("rules_loaded", groups=len(new), rules=sum(len(g.rules) for g in new.values()))

    reload = load

    def _parse(self, files: Sequence[str]) -> list[GroupSpec]:
        # A file matched by two patterns is loaded once.
        paths = expand_rule_globs(files)
        try:
            return load_rule_files(paths, self.semantics)
        except RuleFileError as exc:
            log.error("rules_load_failed", errors=exc.errors)
            raise RuleLoadError(exc.errors) from exc

    def _carry_over(self, spec: GroupSpec, old: Group | None) -> Group:
        if old is not None and old.spec == spec:
            return old
        group = Group(spec, default_interval_ms=self.default_interval_ms, external=self.external)
        if old is not None:
            group.copy_state_from(old)
        else:
            for rule_key, rule in alert_rule_keys(group):
                rule.active = self._restored.pop((group.key, rule_key), {})
                if rule.active:
                    self._restoring.add(group.key)
        return group

    def _drop_sources(self, old: Group, new: Group | None, now_ms: int) -> None:
        """Mark stale what `old` wrote and `new` will not: everything of a removed group,
        the series of rules dropped from the end of a changed one."""
        keep = 0 if new is None else len(new.rules)
        for index in range(keep, len(old.rules)):
            self.store.forget(old.source(index), now_ms)
        if new is None:
            self.store.forget(_metrics_source(old), now_ms)
            self._schedules.pop(old.key, None)

    # -- reading ---------------------------------------------------------------

    def groups(self) -> list[Group]:
        """The loaded groups in load order (for /api/v1/rules)."""
        return list(self._groups.values())

    def active_alerts(self) -> list[Alert]:
        """Every pending and firing alert (for /api/v1/alerts)."""
        return [alert for g in self._groups.values() for rule in g.alerting_rules() for alert in rule.alerts()]

    # -- scheduling ------------------------------------------------------------

    def trigger(self, changed: frozenset[str]) -> None:
        """Evaluate soon every group that reads one of `changed` (at most once per min spacing)."""
        if not changed:
            return
        now = self.clock.time()
        for key, group in self._groups.items():
            if group.reads is None or group.reads & changed:
                self._mark_triggered(key, now)
        self._wake.set()

    def _mark_triggered(self, key: str, now: float) -> None:
        schedule = self._schedules[key]
        earliest = now if schedule.last_run_s is None else max(now, schedule.last_run_s + self.min_spacing_s)
        if schedule.triggered_s is None or earliest < schedule.triggered_s:
            schedule.triggered_s = earliest

    def _any_due(self) -> bool:
        now = self.clock.time()
        return any(
            s.next_s <= now or (s.triggered_s is not None and s.triggered_s <= now) for s in self._schedules.values()
        )

    def evaluate_due(self) -> float:
        """Evaluate every group that is due now; returns the seconds until the next one is."""
        now = self.clock.time()
        for key, group in list(self._groups.items()):
            schedule = self._schedules[key]
            if schedule.next_s <= now:
                self._advance(schedule, group.interval_ms / 1000, now)
                self._evaluate(group, schedule, now)
            elif schedule.triggered_s is not None and schedule.triggered_s <= now:
                self._evaluate(group, schedule, now)
        upcoming = [
            min(s.next_s, math.inf if s.triggered_s is None else s.triggered_s) for s in self._schedules.values()
        ]
        return max(0.0, min(upcoming, default=math.inf) - self.clock.time())

    @staticmethod
    def _advance(schedule: _Schedule, interval_s: float, now: float) -> None:
        """Move the regular schedule past `now`, counting the ticks that were skipped."""
        missed = int((now - schedule.next_s) // interval_s)
        schedule.missed += missed
        schedule.next_s += (missed + 1) * interval_s

    def _evaluate(self, group: Group, schedule: _Schedule, now: float) -> None:
        ts_ms = int(now * 1000)
        if group.key in self._restoring:
            self._restoring.discard(group.key)
            self._restore(group, ts_ms)
        result = group.evaluate(ts_ms, self.engine, self.store, self.clock)
        schedule.triggered_s = None
        schedule.last_run_s = now
        schedule.iterations += 1
        schedule.failures += result.failures
        self._write_metrics(group, schedule, result, ts_ms)
        self._wake_when_time_changes(group, schedule, ts_ms)
        self._persist(group)
        if result.alerts:
            self._send(result.alerts)
        # Recorded series feed other groups at once, not at their next tick.
        for key, other in self._groups.items():
            if other is not group and (other.reads is None or other.reads & result.changed_names):
                self._mark_triggered(key, now)

    def _restore(self, group: Group, now_ms: int) -> None:
        """Continue the persisted alerts of `group` after a restart (see restore_for_state)."""
        for _, rule in alert_rule_keys(group):
            rule.active = restore_for_state(
                rule.active,
                now_ms=now_ms,
                hold_ms=rule.params.hold_ms,
                last_evaluated_ms=self._last_evaluated(rule.active),
                policy=self.restore_policy,
            )

    def _last_evaluated(self, alerts: Mapping[Labels, ActiveAlert]) -> dict[Labels, int]:
        """When each alert was last evaluated before the restart: its last ALERTS_FOR_STATE sample."""
        out: dict[Labels, int] = {}
        for labels in alerts:
            series = self.store.get(ALERTS_FOR_STATE_METRIC, labels)
            last = series.last_timestamp() if series is not None else None
            if last is not None:
                out[labels] = last
        return out

    def _wake_when_time_changes(self, group: Group, schedule: _Schedule, ts_ms: int) -> None:
        """Evaluate again when a `for` runs out or a `time() - X > c` rule crosses, not at the next tick."""
        wake_ms = group.next_change_ms(self.engine, ts_ms)
        if wake_ms is not None and wake_ms / 1000 < schedule.next_s:
            schedule.triggered_s = wake_ms / 1000

    def _send(self, alerts: Sequence[Alert]) -> None:
        try:
            self.notify(alerts)
        except Exception as exc:  # a broken notifier must not stop rule evaluation
            log.error("notify_failed", alerts=len(alerts), error=str(exc))

    def _persist(self, group: Group) -> None:
        if self.state is None:
            return
        changes: list[tuple[RuleKey, Mapping[Labels, ActiveAlert]]] = []
        for rule_key, rule in alert_rule_keys(group):
            shape = persisted_shape(rule.active)
            if self._saved.get((group.key, rule_key)) != shape:
                changes.append(((group.key, rule_key), rule.active))
                self._saved[(group.key, rule_key)] = shape
        if not changes:
            return
        try:
            self.state.save(changes)
        except sqlite3.Error as exc:
            # Evaluation goes on; the next change retries, as `_saved` is reset.
            self._save_failures.failed(group=group.key, error=str(exc))
            for key, _ in changes:
                self._saved.pop(key, None)
            return
        self._save_failures.succeeded()

    def _write_metrics(self, group: Group, schedule: _Schedule, result: GroupEvaluation, ts_ms: int) -> None:
        labels = labels_of(rule_group=group.key)
        samples = [
            Sample("tripwired_rule_evaluation_failures_total", labels, float(schedule.failures)),
            Sample("tripwired_rule_group_iterations_missed_total", labels, float(schedule.missed)),
            Sample("tripwired_rule_group_iterations_total", labels, float(schedule.iterations)),
            Sample("tripwired_rule_group_last_duration_seconds", labels, group.last_duration_seconds),
            Sample("tripwired_rule_group_interval_seconds", labels, group.interval_ms / 1000),
        ]
        samples.extend(
            Sample("tripwired_rule_evaluation_duration_seconds", labels_of(rule_group=group.key, rule=name), seconds)
            for name, seconds in result.seconds_by_rule.items()
        )
        self.store.write(_metrics_source(group), samples, ts_ms)

    async def run(self, stop: asyncio.Event) -> None:
        """Evaluate groups on schedule and on trigger until `stop` is set."""
        while not stop.is_set():
            # Whatever the rules are about to read is in the write-ahead log first, so no alert is
            # sent from data a crash could take back (a no-op without a log, skipped when no group
            # is due: waiting for the log is a hand-off to its thread).
            if self._any_due():
                await self.store.sync()
            delay = self.evaluate_due()
            self._wake.clear()
            if delay > 0:
                await _wait_any(stop, self._wake, delay)


def _metrics_source(group: Group) -> str:
    return f"ruler:{group.key}"


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    """Sleep until `stop` or `wake` is set or `timeout` seconds have passed."""
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(
            waiters, timeout=None if math.isinf(timeout) else timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for waiter in waiters:
            waiter.cancel()


def unsent(restored: Mapping[RuleKey, Mapping[Labels, ActiveAlert]]) -> dict[RuleKey, dict[Labels, ActiveAlert]]:
    """Restored alerts as never sent, as Prometheus treats them after a restart.

    What the last process sent may have reached only the dispatcher's memory (a group waiting
    out group_wait) when it died; waiting for the resend delay would hold that notification up
    to a minute. Sending at once costs nothing: the notification log and the outbox's dedup keys
    drop what was already notified.
    """
    return {
        key: {labels: replace(alert, last_sent_at_ms=None) for labels, alert in alerts.items()}
        for key, alerts in restored.items()
    }
