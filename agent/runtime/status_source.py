"""The status page's StatusSource over the real objects: rule manager, collector runner, silences, outbox.

Runtime may see every part; the web layer sees only the view model built here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agent.collect.runner import CollectorState, Runner
from agent.model import AlertState, labels_of
from agent.notify.outbox import Entry, Outbox
from agent.notify.silence import Silence, Silences
from agent.ruler.alerting import ActiveAlert
from agent.ruler.group import Group
from agent.ruler.manager import RuleManager
from agent.ruler.rules import AlertingRule, Rule
from agent.web.status import AlertView, CollectorView, OutboxEntryView, RuleGroupView, RuleView, SilenceView

NO_SILENCES = "silences are not available: this agent has no state directory for them"


class RuntimeStatusSource:
    """Reads the running parts for the status page; `runner` is a function because a reload replaces it."""

    def __init__(
        self,
        ruler: RuleManager,
        runner: Callable[[], Runner],
        silences: Silences | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self._ruler = ruler
        self._runner = runner
        self._silences = silences
        self._outbox = outbox

    def alerts(self) -> list[AlertView]:
        """Every pending and firing alert, read from the rules' state (10,000 of them in a few ms)."""
        silences = self._live_silences()
        return [
            self._alert_view(alert, rule, silences)
            for group in self._ruler.groups()
            for rule in group.alerting_rules()
            for alert in rule.active.values()
            if alert.state is not AlertState.INACTIVE
        ]

    def _live_silences(self) -> list[Silence]:
        """The silences that may mute an alert now, read once per page rather than once per alert."""
        if self._silences is None:
            return []
        now = self._silences.clock.time()
        return [s for s in self._silences.list() if s.ends_at > now]

    def _alert_view(self, alert: ActiveAlert, rule: AlertingRule, silences: Sequence[Silence]) -> AlertView:
        external = rule.external.labels
        labels = labels_of({**dict(external), **dict(alert.labels)}) if external else alert.labels
        now = self._silences.clock.time() if self._silences is not None else 0.0
        label_map = dict(labels) if silences else {}
        silenced_by = tuple(s.id for s in silences if s.mutes(label_map, now))
        return AlertView(
            rule.name,
            alert.state.value,
            labels,
            alert.annotations,
            alert.value,
            alert.active_at_ms / 1000,
            rule.spec.expr,
            silenced_by,
        )

    def rule_groups(self) -> list[RuleGroupView]:
        """Every rule group with its rules' state, for the status page."""
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


def rule_view(rule: Rule) -> RuleView:
    """One rule as the status page shows it: its kind, health and the state of its most active alert."""
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
    )


def group_view(group: Group) -> RuleGroupView:
    """One rule group as the status page shows it (times in seconds)."""
    return RuleGroupView(
        group.name,
        group.file,
        group.interval_ms / 1000,
        _seconds(group.last_evaluation_ms),
        group.last_duration_seconds,
        tuple(rule_view(r) for r in group.rules),
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
