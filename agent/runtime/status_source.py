"""The status page's StatusSource over the real objects: rule manager, collector runner, silences, outbox.

Runtime may see every part; the web layer sees only the view model built here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from agent.collect.runner import CollectorState, Runner
from agent.model import AlertState, Labels, labels_of
from agent.notify.silence import Silence, Silences
from agent.promql.units import Unit, unit_of
from agent.ruler.alerting import ActiveAlert
from agent.ruler.group import Group
from agent.ruler.manager import RuleManager
from agent.ruler.rules import AlertingRule, Rule
from agent.runtime.explain import explain_rule, show_value
from agent.web.status import (
    AlertView,
    CollectorView,
    ExplainView,
    OutboxEntryView,
    RuleGroupView,
    RuleView,
    SilenceView,
    explain_link,
)

if TYPE_CHECKING:  # imported by a daemon with a route: one without never loads them
    from agent.notify.dispatch import Dispatcher
    from agent.notify.outbox import Entry, Outbox

NO_SILENCES = "silences are not available: this agent has no state directory for them"


class RuntimeStatusSource:
    """Reads the running parts for the status page; `runner` is a function because a reload replaces it."""

    def __init__(
        self,
        ruler: RuleManager,
        runner: Callable[[], Runner],
        silences: Silences | None = None,
        outbox: Outbox | None = None,
        dispatcher: Callable[[], Dispatcher | None] = lambda: None,
    ) -> None:
        self._ruler = ruler
        self._runner = runner
        self._silences = silences
        self._outbox = outbox
        self._dispatcher = dispatcher  # a function: a reload may create the first one
        self._facts: dict[tuple[str, int, str], tuple[str, str]] = {}

    def alerts(self) -> list[AlertView]:
        """Every pending and firing alert, read from the rules' state (10,000 of them in a few ms)."""
        silences, inhibited = self._live_silences(), self._inhibited()
        return [
            self._alert_view(alert, rule, group, silences, inhibited)
            for group in self._ruler.groups()
            for rule in group.alerting_rules()
            for alert in rule.active.values()
            if alert.state is not AlertState.INACTIVE
        ]

    def explain(self, group: str, rule: int) -> ExplainView | None:
        """Why the alerting rule numbered `rule` in the group keyed `group` fires or not, evaluated now."""
        found = [(g, r) for g in self._ruler.groups() if g.key == group for r in g.alerting_rules()]
        chosen = next(((g, r) for g, r in found if r.spec.index == rule), None)
        if chosen is None:
            return None
        owner, alerting = chosen
        silences, inhibited = self._live_silences(), self._inhibited()
        alerts = [
            self._alert_view(alert, alerting, owner, silences, inhibited)
            for alert in alerting.active.values()
            if alert.state is not AlertState.INACTIVE
        ]
        now = self._silences.clock.time() if self._silences is not None else time.time()
        return explain_rule(
            alerting, group=owner.name, file=owner.file, evaluate=self._ruler.engine.instant, now=now, alerts=alerts
        )

    def _inhibited(self) -> Mapping[Labels, tuple[str, ...]]:
        """The alerts the dispatcher holds back by inhibition, by label set, with what inhibits each."""
        dispatcher = self._dispatcher()
        if dispatcher is None:
            return {}
        views = [view for group in dispatcher.view() for view in group.alerts]
        names = {view.alert.fingerprint: _alert_text(view.alert.labels) for view in views}
        return {
            view.alert.labels: tuple(names.get(fp, fp) for fp in view.inhibited_by)
            for view in views
            if view.inhibited_by
        }

    def _live_silences(self) -> list[Silence]:
        """The silences that may mute an alert now, read once per page rather than once per alert."""
        if self._silences is None:
            return []
        now = self._silences.clock.time()
        return [s for s in self._silences.list() if s.ends_at > now]

    def _alert_view(
        self,
        alert: ActiveAlert,
        rule: AlertingRule,
        group: Group,
        silences: Sequence[Silence],
        inhibited: Mapping[Labels, tuple[str, ...]],
    ) -> AlertView:
        external = rule.external.labels
        labels = labels_of({**dict(external), **dict(alert.labels)}) if external else alert.labels
        now = self._silences.clock.time() if self._silences is not None else 0.0
        label_map = dict(labels) if silences else {}
        silenced_by = tuple(s.id for s in silences if s.mutes(label_map, now))
        unit, link = self._rule_facts(rule, group)
        return AlertView(
            rule.name,
            alert.state.value,
            labels,
            alert.annotations,
            alert.value,
            alert.active_at_ms / 1000,
            rule.spec.expr,
            silenced_by,
            inhibited.get(labels, ()) if alert.state is AlertState.FIRING else (),
            unit=unit,
            explain_link=link,
        )

    def _rule_facts(self, rule: AlertingRule, group: Group) -> tuple[str, str]:
        """The unit of a rule's values and its explain link, worked out once per rule, not per alert."""
        key = (group.key, rule.spec.index, rule.spec.expr)
        facts = self._facts.get(key)
        if facts is None:
            if len(self._facts) > 10_000:  # rules come and go with reloads
                self._facts.clear()
            facts = self._facts[key] = (unit_of(rule.expr).value, explain_link(group.key, rule.spec.index))
        return facts

    def show_value(self, value: float, unit: str) -> str:
        """A value humanized in its unit (Unit values), for the page."""
        return show_value(value, Unit(unit))

    def rule_groups(self) -> list[RuleGroupView]:
        """Every rule group with its rules' state and health."""
        return [group_view(group) for group in self._ruler.groups()]

    def collectors(self) -> list[CollectorView]:
        """Every collector's last run, for the status page."""
        return [collector_view(state) for state in self._runner().states]

    def outbox_pending(self) -> list[OutboxEntryView]:
        """Notifications waiting to be delivered (none without an outbox)."""
        return [entry_view(e) for e in self._outbox.pending()] if self._outbox is not None else []

    def dead_letters(self) -> list[OutboxEntryView]:
        """Notifications the outbox gave up on (none without an outbox)."""
        return [entry_view(e) for e in self._outbox.dead_letters()] if self._outbox is not None else []

    def silences(self) -> list[SilenceView]:
        """Every silence with its state now (none without a route)."""
        if self._silences is None:
            return []
        now = self._silences.clock.time()
        return [silence_view(s, now) for s in self._silences.list()]

    def add_silence(
        self, matchers: Sequence[str], starts_at: float, ends_at: float, created_by: str, comment: str
    ) -> str:
        """Create a silence; ValueError when it is invalid or there are no silences."""
        if self._silences is None:
            raise ValueError(NO_SILENCES)
        return self._silences.add(matchers, starts_at, ends_at, created_by, comment)  # its errors are ValueErrors

    def expire_silence(self, silence_id: str) -> None:
        """End a silence now; ValueError when it is unknown or there are no silences."""
        if self._silences is None:
            raise ValueError(NO_SILENCES)
        self._silences.expire(silence_id)


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


def _alert_text(labels: Labels) -> str:
    """An alert as people name it: `WarehouseDown{warehouse="lake"}`."""
    pairs = dict(labels)
    name = pairs.pop("alertname", "")
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(pairs.items())) + "}"


def rule_view(rule: Rule, group_key: str = "") -> RuleView:
    """One rule as the status page shows it: kind, health, its most active alert's state, its explain link."""
    health = rule.health
    state = ""
    if isinstance(rule, AlertingRule):
        states = {a.state for a in rule.active.values()}
        state = next((s for s in (AlertState.FIRING, AlertState.PENDING) if s in states), AlertState.INACTIVE).value
    kind = "alerting" if isinstance(rule, AlertingRule) else "recording"
    return RuleView(
        rule.name,
        kind,
        state,
        health.health,
        health.last_error,
        _seconds(health.last_evaluation_ms),
        health.evaluation_seconds,
        rule.spec.expr,
        explain_link(group_key, rule.spec.index) if isinstance(rule, AlertingRule) and group_key else "",
    )


def group_view(group: Group) -> RuleGroupView:
    """One rule group as the status page shows it (times in seconds)."""
    return RuleGroupView(
        group.name,
        group.file,
        group.interval_ms / 1000,
        _seconds(group.last_evaluation_ms),
        group.last_duration_seconds,
        tuple(rule_view(r, group.key) for r in group.rules),
    )


def collector_view(state: CollectorState) -> CollectorView:
    """One collector's last run as the status page shows it."""
    return CollectorView(
        state.collector.name,
        state.collector.instance,
        state.up,
        state.last_success or None,
        state.last_duration,
        state.last_error,
        state.errors_total,
    )


def entry_view(entry: Entry) -> OutboxEntryView:
    """One outbox entry as the status page shows it."""
    return OutboxEntryView(
        entry.receiver,
        entry.integration,
        entry.group_key,
        entry.attempts,
        entry.created_at,
        entry.next_attempt_at,
        entry.reason,
    )


def silence_view(silence: Silence, now: float) -> SilenceView:
    """One silence as the status page shows it, with its state at `now` (seconds since the epoch)."""
    return SilenceView(
        silence.id,
        tuple(str(m) for m in silence.matchers),
        silence.starts_at,
        silence.ends_at,
        silence.created_by,
        silence.comment,
        silence.state(now).value,
    )
