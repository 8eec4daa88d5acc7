"""Prometheus' alert state machine as a pure function of (previous alerts, result, timestamp).

This is rules/alerting.go's `Eval` and `sendAlerts` without the locks: inactive -> pending
-> firing after `for`, `keep_firing_for`, resolved alerts kept 15 minutes so receivers that
missed the resolution hear it again, re-sending every minute, the group `limit`, and the
`ALERTS` / `ALERTS_FOR_STATE` series. Timestamps are integer milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from math import copysign
from typing import Protocol
from urllib.parse import quote_plus

from agent.model import Alert, AlertState, Labels, Sample, fingerprint, labels_of
from agent.targets import untargeted

RESOLVED_RETENTION_MS = 15 * 60 * 1000
RESEND_DELAY_MS = 60 * 1000
ALERTS_METRIC = "ALERTS"
ALERTS_FOR_STATE_METRIC = "ALERTS_FOR_STATE"
DUPLICATE_LABELSET = "vector contains metrics with the same labelset after applying alert labels"


class ResultSample(Protocol):
    """One element of an instant vector: labels (with `__name__`, if any) and value."""

    @property
    def labels(self) -> Labels:
        """The sample's labels, `__name__` included when it has one."""

    @property
    def value(self) -> float:
        """The sample's value."""


class Expander(Protocol):
    """Expands one label or annotation template for one result sample; never raises."""

    def __call__(self, text: str, labels: Mapping[str, str], value: float) -> str:
        """The template `text` expanded for one sample; on a template error, `text` unchanged."""


@dataclass(frozen=True, slots=True)
class AlertRule:
    """What the state machine needs to know about an alerting rule and its group."""

    name: str
    hold_ms: int = 0
    keep_firing_for_ms: int = 0
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    limit: int = 0
    interval_ms: int = 60_000
    resend_delay_ms: int = RESEND_DELAY_MS


@dataclass(frozen=True, slots=True)
class ActiveAlert:
    """The state of one alert instance between evaluations (what is persisted)."""

    labels: Labels  # includes alertname
    annotations: Labels
    state: AlertState
    value: float
    active_at_ms: int
    fired_at_ms: int | None = None
    resolved_at_ms: int | None = None
    keep_firing_since_ms: int | None = None
    last_sent_at_ms: int | None = None
    valid_until_ms: int | None = None
    # A pending alert restored after a restart fires no sooner than this (see restore_for_state).
    hold_until_ms: int | None = None


@dataclass(frozen=True, slots=True)
class AlertEvaluation:
    """Outcome of one evaluation: the new state, what to notify, what to write to the store."""

    active: Mapping[Labels, ActiveAlert]
    to_send: tuple[ActiveAlert, ...]
    samples: tuple[Sample, ...]
    error: str | None = None


class AlertMemo:
    """What earlier evaluations of one rule worked out per alert, for the next evaluation to reuse.

    An alert's labels and annotations are a pure function of its result sample's labels and value
    (templates cannot query), and its ALERTS samples of its labels, state and activeAt. In an alert
    storm they come back unchanged at every evaluation, and working them out again (dicts, sorted
    label sets, template look-ups, new samples) was most of the state machine's time. Entries stay
    put while they are used (new ones each evaluation would be long-lived garbage for the cyclic
    collector); the memo starts over once it holds more than twice the alerts of an evaluation.
    """

    __slots__ = ("_labelled", "_samples")

    def __init__(self) -> None:
        self._labelled: dict[tuple[Labels, float], tuple[Labels, Labels]] = {}
        self._samples: dict[tuple[Labels, int], tuple[AlertState, tuple[Sample, Sample]]] = {}

    def start(self, alerts: int) -> None:
        """A new evaluation begins, of about `alerts` alerts: forget everything if the memo outgrew that."""
        limit = 2 * alerts + 16
        if len(self._labelled) > limit:
            self._labelled.clear()
        if len(self._samples) > limit:
            self._samples.clear()

    def labelled(self, sample: ResultSample, rule: AlertRule, expand: Expander) -> tuple[Labels, Labels]:
        """`alert_labels` of `sample`, as worked out before for the same labels and value."""
        value = sample.value
        if not value and copysign(1.0, value) < 0:  # -0.0 equals 0.0 as a key, but not in a template
            return alert_labels(sample, rule, expand)
        key = (sample.labels, value)
        made = self._labelled.get(key)
        if made is None:
            made = self._labelled[key] = alert_labels(sample, rule, expand)
        return made

    def state_samples(self, alert: ActiveAlert) -> tuple[Sample, Sample]:
        """`state_samples` of `alert`, as made before for the same labels, state and activeAt."""
        key = (alert.labels, alert.active_at_ms)
        made = self._samples.get(key)
        if made is None or made[0] is not alert.state:
            made = self._samples[key] = (alert.state, state_samples(alert))
        return made[1]


def alert_labels(sample: ResultSample, rule: AlertRule, expand: Expander) -> tuple[Labels, Labels]:
    """The labels (the rule's added, templates expanded, `alertname`) and annotations of a sample's alert."""
    template_labels = dict(sample.labels)
    labels = {k: v for k, v in sample.labels if k != "__name__"}
    for name, text in rule.labels:
        labels[name] = expand(text, template_labels, sample.value)
    labels["alertname"] = rule.name
    annotations = tuple(sorted((k, expand(text, template_labels, sample.value)) for k, text in rule.annotations))
    return labels_of(labels), annotations


def evaluate_alerts(
    previous: Mapping[Labels, ActiveAlert],
    vector: Sequence[ResultSample],
    ts_ms: int,
    rule: AlertRule,
    expand: Expander,
    *,
    memo: AlertMemo | None = None,
) -> AlertEvaluation:
    """Advance every alert instance of `rule` given the rule expression's result at `ts_ms`.

    A `memo` kept from one evaluation of the rule to the next saves work, never changes the outcome.
    """
    labelled, made_samples = alert_labels, state_samples
    if memo is not None:
        memo.start(max(len(vector), len(previous)))
        labelled, made_samples = memo.labelled, memo.state_samples
    # Build an alert for every result sample first: a labelset clash fails the whole
    # evaluation and leaves the previous state untouched, as in Prometheus.
    current: dict[Labels, tuple[Labels, float]] = {}  # the alert's annotations and value
    for sample in vector:
        labels, annotations = labelled(sample, rule, expand)
        entry = (annotations, sample.value)
        if current.setdefault(labels, entry) is not entry:
            return AlertEvaluation(previous, (), (), DUPLICATE_LABELSET)
    active = _with_current(previous, current, ts_ms)

    samples: list[Sample] = []
    pending_or_firing = 0
    for labels, before in list(active.items()):
        alert = before
        if labels not in current:
            keep_firing = False
            if alert.state is AlertState.FIRING and rule.keep_firing_for_ms > 0:
                since = ts_ms if alert.keep_firing_since_ms is None else alert.keep_firing_since_ms
                alert = replace(alert, keep_firing_since_ms=since)
                keep_firing = ts_ms - since < rule.keep_firing_for_ms
            if alert.state is AlertState.PENDING or (
                alert.resolved_at_ms is not None and ts_ms - alert.resolved_at_ms > RESOLVED_RETENTION_MS
            ):
                # Pending alerts vanish silently; resolved ones once their retention is over.
                del active[labels]
                continue
            if not keep_firing:
                if alert.state is not AlertState.INACTIVE:
                    alert = replace(alert, state=AlertState.INACTIVE, resolved_at_ms=ts_ms)
                active[labels] = alert
                continue
        elif alert.keep_firing_since_ms is not None:
            alert = replace(alert, keep_firing_since_ms=None)
        pending_or_firing += 1
        if alert.state is AlertState.PENDING and _held_long_enough(alert, ts_ms, rule.hold_ms):
            alert = replace(alert, state=AlertState.FIRING, fired_at_ms=ts_ms, hold_until_ms=None)
        if alert is not before:
            active[labels] = alert
        samples.extend(made_samples(alert))

    if rule.limit > 0 and pending_or_firing > rule.limit:
        return AlertEvaluation({}, (), (), f"exceeded limit of {rule.limit} with {pending_or_firing} alerts")

    to_send: list[ActiveAlert] = []
    for labels, alert in active.items():
        if needs_sending(alert, ts_ms, rule.resend_delay_ms):
            # Valid long enough to survive two missed evaluations or sends.
            delta = max(rule.resend_delay_ms, rule.interval_ms)
            sent = replace(alert, last_sent_at_ms=ts_ms, valid_until_ms=ts_ms + 4 * delta)
            active[labels] = sent
            to_send.append(sent)
    return AlertEvaluation(active, tuple(to_send), tuple(samples))


def _with_current(
    previous: Mapping[Labels, ActiveAlert], current: Mapping[Labels, tuple[Labels, float]], ts_ms: int
) -> dict[Labels, ActiveAlert]:
    """The previous alerts with this evaluation's values and annotations; the new ones pending."""
    active = dict(previous)
    for labels, (notes, value) in current.items():
        known = active.get(labels)
        if known is not None and known.state is not AlertState.INACTIVE:
            if known.value != value or known.annotations != notes:  # NaN: always
                active[labels] = replace(known, value=value, annotations=notes)
            continue
        fresh = ActiveAlert(labels, notes, AlertState.PENDING, value, ts_ms)
        if known is None and (before := _before_target_labels(previous, labels)) is not None:
            active[labels] = _carried_over(before, fresh)
        else:
            # New, or back after being resolved: a resolved alert starts over as pending.
            active[labels] = fresh
    return active


def _before_target_labels(previous: Mapping[Labels, ActiveAlert], labels: Labels) -> ActiveAlert | None:
    """The active alert this one was before the agent gave every series `job` and `instance`, if any.

    An upgrade from a version without target labels (or a state file of one) changes every alert's
    labels once. The old alert is resolved as usual, but the same condition under its new labels
    goes on from the old one's state instead of starting over as pending: no gap in which nothing
    fires, and no `for` waited out again.
    """
    before = untargeted(labels)
    old = previous.get(before) if before is not None else None
    return old if old is not None and old.state is not AlertState.INACTIVE else None


def _carried_over(before: ActiveAlert, fresh: ActiveAlert) -> ActiveAlert:
    """`fresh` with the pending or firing state of the alert it was under its old labels; never sent yet."""
    return replace(
        before,
        labels=fresh.labels,
        annotations=fresh.annotations,
        value=fresh.value,
        keep_firing_since_ms=None,
        last_sent_at_ms=None,
        valid_until_ms=None,
    )


def _held_long_enough(alert: ActiveAlert, ts_ms: int, hold_ms: int) -> bool:
    if ts_ms - alert.active_at_ms < hold_ms:
        return False
    return alert.hold_until_ms is None or ts_ms >= alert.hold_until_ms


@dataclass(frozen=True, slots=True)
class RestorePolicy:
    """Prometheus' --rules.alert.for-outage-tolerance and --rules.alert.for-grace-period."""

    outage_tolerance_ms: int = 3_600_000
    grace_period_ms: int = 600_000


def restore_for_state(
    alerts: Mapping[Labels, ActiveAlert],
    *,
    now_ms: int,
    hold_ms: int,
    last_evaluated_ms: Mapping[Labels, int],
    policy: RestorePolicy,
) -> dict[Labels, ActiveAlert]:
    """The alerts of one rule as they continue after a restart (Prometheus' RestoreForState).

    Firing and resolved alerts continue exactly as they were: an alert whose condition still
    holds keeps firing with its activeAt, and only an evaluation that finds it false resolves
    it (stricter than Prometheus, which restores `for` state only). A pending alert keeps its
    activeAt, but the time the daemon was down does not count towards its `for`, and it fires
    no sooner than the grace period (or its `for`, when shorter) after the restart. A pending
    alert whose last evaluation is unknown or older than the outage tolerance is dropped: if
    its condition still holds it starts pending anew. `last_evaluated_ms` holds, per alert,
    the time of its last ALERTS_FOR_STATE sample before the restart.
    """
    restored: dict[Labels, ActiveAlert] = {}
    for labels, alert in alerts.items():
        if alert.state is not AlertState.PENDING:
            restored[labels] = alert
            continue
        down_at = last_evaluated_ms.get(labels)
        if down_at is None or now_ms - down_at > policy.outage_tolerance_ms:
            continue
        downtime = max(0, now_ms - down_at)
        fire_at = max(alert.active_at_ms + hold_ms + downtime, now_ms + min(hold_ms, policy.grace_period_ms))
        restored[labels] = replace(alert, hold_until_ms=fire_at)
    return restored


def needs_sending(alert: ActiveAlert, ts_ms: int, resend_delay_ms: int) -> bool:
    """Whether the notifier should hear about `alert` now (Prometheus' needsSending)."""
    if alert.state is AlertState.PENDING:
        return False
    if alert.last_sent_at_ms is None:
        return True
    if alert.resolved_at_ms is not None and alert.resolved_at_ms > alert.last_sent_at_ms:
        return True
    return alert.last_sent_at_ms + resend_delay_ms < ts_ms


def state_samples(alert: ActiveAlert) -> tuple[Sample, Sample]:
    """The alert's `ALERTS` and `ALERTS_FOR_STATE` samples."""
    with_state = labels_of(alert.labels, alertstate=alert.state.value)
    # ALERTS_FOR_STATE holds whole seconds, as Prometheus writes ActiveAt.Unix().
    return (
        Sample(ALERTS_METRIC, with_state, 1.0),
        Sample(ALERTS_FOR_STATE_METRIC, alert.labels, float(alert.active_at_ms // 1000)),
    )


def generator_url(external_url: str, expr: str) -> str:
    """Link back to the expression, as Prometheus builds it (its graph page, table tab)."""
    return f"{external_url.rstrip('/')}/graph?g0.expr={quote_plus(expr)}&g0.tab=1"


def to_alert(active: ActiveAlert, *, rule_id: str, url: str, external_labels: Labels) -> Alert:
    """The notifier's view of an alert: external labels added, Alertmanager's time fields."""
    merged = dict(external_labels)
    merged.update(active.labels)  # the alert's own labels win, as in Prometheus' notifier
    labels = labels_of(merged)
    if active.resolved_at_ms is not None:
        ends_ms = active.resolved_at_ms
    else:
        ends_ms = active.valid_until_ms if active.valid_until_ms is not None else active.active_at_ms
    starts_ms = active.fired_at_ms if active.fired_at_ms is not None else active.active_at_ms
    return Alert(
        labels=labels,
        annotations=active.annotations,
        state=active.state,
        value=active.value,
        active_at=active.active_at_ms / 1000,
        starts_at=starts_ms / 1000,
        ends_at=ends_ms / 1000,
        resolved_at=None if active.resolved_at_ms is None else active.resolved_at_ms / 1000,
        generator_url=url,
        rule=rule_id,
        fingerprint=fingerprint(labels),
    )
