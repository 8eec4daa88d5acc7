"""The alert state machine, step by step with explicit timestamps (milliseconds)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agent.model import AlertState, Labels, Sample, fingerprint
from agent.ruler.alerting import (
    DUPLICATE_LABELSET,
    RESOLVED_RETENTION_MS,
    ActiveAlert,
    AlertEvaluation,
    AlertMemo,
    AlertRule,
    RestorePolicy,
    evaluate_alerts,
    generator_url,
    needs_sending,
    restore_for_state,
    to_alert,
)

MIN = 60_000
T0 = 1_700_000_000_000


@dataclass(frozen=True)
class Point:
    labels: Labels
    value: float


def vec(*instances: str, value: float = 1.0) -> list[Point]:
    """Result samples of `up{instance=...}`."""
    return [Point((("__name__", "up"), ("instance", i)), value) for i in instances]


def plain(text: str, labels: Mapping[str, str], value: float) -> str:
    """A stand-in for Go templates: `$value` and `$instance` substituted."""
    return text.replace("$value", f"{value:g}").replace("$instance", labels.get("instance", ""))


def run(rule: AlertRule, steps: Sequence[tuple[int, list[Point]]]) -> list[AlertEvaluation]:
    """Evaluate `rule` at each (timestamp, vector), threading the state through."""
    state: Mapping[Labels, ActiveAlert] = {}
    out = []
    for ts, vector in steps:
        result = evaluate_alerts(state, vector, ts, rule, plain)
        state = result.active
        out.append(result)
    return out


def states(result: AlertEvaluation) -> list[str]:
    return sorted(a.state.value for a in result.active.values())


KEY = (("alertname", "Down"), ("instance", "a"))


def test_new_result_sample_starts_pending_when_rule_has_for() -> None:
    [first] = run(AlertRule("Down", hold_ms=5 * MIN), [(T0, vec("a"))])
    assert ["pending"] == states(first)


def test_alert_without_for_fires_on_first_evaluation() -> None:
    [first] = run(AlertRule("Down"), [(T0, vec("a"))])
    assert AlertState.FIRING == first.active[KEY].state
    assert T0 == first.active[KEY].fired_at_ms


def test_pending_alert_fires_once_for_has_elapsed() -> None:
    rule = AlertRule("Down", hold_ms=2 * MIN)
    results = run(rule, [(T0, vec("a")), (T0 + MIN, vec("a")), (T0 + 2 * MIN, vec("a"))])
    assert [["pending"], ["pending"], ["firing"]] == [states(r) for r in results]


def test_pending_alert_keeps_its_active_at() -> None:
    results = run(AlertRule("Down", hold_ms=5 * MIN), [(T0, vec("a")), (T0 + MIN, vec("a"))])
    assert T0 == results[-1].active[KEY].active_at_ms


def test_pending_alert_that_vanishes_is_dropped_without_notification() -> None:
    results = run(AlertRule("Down", hold_ms=5 * MIN), [(T0, vec("a")), (T0 + MIN, [])])
    assert {} == dict(results[-1].active)
    assert () == results[-1].to_send


def test_firing_alert_that_vanishes_is_resolved_and_sent() -> None:
    results = run(AlertRule("Down"), [(T0, vec("a")), (T0 + MIN, [])])
    resolved = results[-1].active[KEY]
    assert (AlertState.INACTIVE, T0 + MIN) == (resolved.state, resolved.resolved_at_ms)
    assert [resolved] == list(results[-1].to_send)


def test_resolved_alert_is_kept_for_the_retention_then_dropped() -> None:
    gone = T0 + MIN
    results = run(
        AlertRule("Down"),
        [(T0, vec("a")), (gone, []), (gone + RESOLVED_RETENTION_MS, []), (gone + RESOLVED_RETENTION_MS + MIN, [])],
    )
    assert [True, False] == [KEY in r.active for r in results[2:]]


def test_resolved_alert_is_resent_every_resend_delay() -> None:
    results = run(AlertRule("Down"), [(T0, vec("a")), (T0 + MIN, []), (T0 + 2 * MIN, []), (T0 + 2 * MIN + 1, [])])
    assert [1, 0, 1] == [len(r.to_send) for r in results[1:]]


def test_returning_alert_after_resolution_starts_over_as_pending() -> None:
    rule = AlertRule("Down", hold_ms=5 * MIN)
    steps = [(T0 + i * MIN, vec("a")) for i in range(6)] + [(T0 + 6 * MIN, []), (T0 + 7 * MIN, vec("a"))]
    back = run(rule, steps)[-1].active[KEY]
    assert (AlertState.PENDING, T0 + 7 * MIN, None) == (back.state, back.active_at_ms, back.resolved_at_ms)


def test_firing_alert_is_resent_only_after_resend_delay() -> None:
    rule = AlertRule("Down")
    results = run(rule, [(T0, vec("a")), (T0 + 30_000, vec("a")), (T0 + MIN, vec("a")), (T0 + MIN + 1, vec("a"))])
    assert [1, 0, 0, 1] == [len(r.to_send) for r in results]


def test_sent_alert_is_valid_for_four_times_the_larger_of_resend_delay_and_interval() -> None:
    [first] = run(AlertRule("Down", interval_ms=5 * MIN), [(T0, vec("a"))])
    assert T0 + 20 * MIN == first.to_send[0].valid_until_ms


def test_keep_firing_for_keeps_a_vanished_alert_firing() -> None:
    rule = AlertRule("Down", keep_firing_for_ms=2 * MIN)
    results = run(rule, [(T0, vec("a")), (T0 + MIN, []), (T0 + 2 * MIN, [])])
    assert [["firing"], ["firing"]] == [states(r) for r in results[1:]]


def test_keep_firing_for_resolves_once_it_has_elapsed() -> None:
    rule = AlertRule("Down", keep_firing_for_ms=2 * MIN)
    results = run(rule, [(T0, vec("a")), (T0 + MIN, []), (T0 + 3 * MIN, [])])
    resolved = results[-1].active[KEY]
    assert (AlertState.INACTIVE, T0 + 3 * MIN) == (resolved.state, resolved.resolved_at_ms)


def test_keep_firing_clock_restarts_when_the_condition_returns() -> None:
    rule = AlertRule("Down", keep_firing_for_ms=2 * MIN)
    results = run(
        rule, [(T0, vec("a")), (T0 + MIN, []), (T0 + 2 * MIN, vec("a")), (T0 + 3 * MIN, []), (T0 + 4 * MIN, [])]
    )
    assert ["firing"] == states(results[-1])
    assert T0 + 3 * MIN == results[-1].active[KEY].keep_firing_since_ms


def test_keep_firing_for_does_not_apply_to_pending_alerts() -> None:
    rule = AlertRule("Down", hold_ms=5 * MIN, keep_firing_for_ms=10 * MIN)
    results = run(rule, [(T0, vec("a")), (T0 + MIN, [])])
    assert {} == dict(results[-1].active)


def test_value_and_annotations_follow_the_latest_result() -> None:
    rule = AlertRule("Down", hold_ms=5 * MIN, annotations=(("summary", "at $value"),))
    results = run(rule, [(T0, vec("a", value=1)), (T0 + MIN, vec("a", value=7))])
    alert = results[-1].active[KEY]
    assert (7.0, (("summary", "at 7"),)) == (alert.value, alert.annotations)


def test_rule_labels_are_expanded_and_override_result_labels() -> None:
    rule = AlertRule("Down", labels=(("instance", "host-$instance"), ("severity", "page")))
    [first] = run(rule, [(T0, vec("a"))])
    assert [(("alertname", "Down"), ("instance", "host-a"), ("severity", "page"))] == list(first.active)


def test_rule_label_expanding_to_empty_removes_the_label() -> None:
    [first] = run(AlertRule("Down", labels=(("instance", ""),)), [(T0, vec("a"))])
    assert [(("alertname", "Down"),)] == list(first.active)


def test_metric_name_is_not_an_alert_label() -> None:
    [first] = run(AlertRule("Down"), [(T0, vec("a"))])
    assert "__name__" not in dict(first.active[KEY].labels)


def test_duplicate_labelsets_after_rule_labels_fail_and_keep_previous_state() -> None:
    rule = AlertRule("Down", labels=(("instance", "x"),))
    previous = run(rule, [(T0, vec("a"))])[0].active
    result = evaluate_alerts(previous, vec("a", "b"), T0 + MIN, rule, plain)
    assert (DUPLICATE_LABELSET, previous) == (result.error, result.active)


def test_limit_exceeded_clears_alerts_and_reports_error() -> None:
    [first] = run(AlertRule("Down", limit=1), [(T0, vec("a", "b"))])
    assert ("exceeded limit of 1 with 2 alerts", {}, ()) == (first.error, dict(first.active), first.to_send)


def test_limit_counts_only_pending_and_firing_alerts() -> None:
    results = run(AlertRule("Down", limit=1), [(T0, vec("a")), (T0 + MIN, vec("b"))])
    assert None is results[-1].error


def test_alerts_series_carry_state_and_for_state_carries_active_at_seconds() -> None:
    [first] = run(AlertRule("Down", hold_ms=5 * MIN), [(T0 + 999, vec("a"))])
    assert (
        Sample("ALERTS", (("alertname", "Down"), ("alertstate", "pending"), ("instance", "a")), 1.0),
        Sample("ALERTS_FOR_STATE", KEY, float((T0 + 999) // 1000)),
    ) == first.samples


def test_resolved_alerts_write_no_alerts_series() -> None:
    results = run(AlertRule("Down"), [(T0, vec("a")), (T0 + MIN, [])])
    assert () == results[-1].samples


def test_pending_alert_is_never_sent() -> None:
    alert = ActiveAlert(KEY, (), AlertState.PENDING, 1.0, T0)
    assert not needs_sending(alert, T0 + 10 * MIN, MIN)


def test_generator_url_links_to_the_expression_table() -> None:
    assert "http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1" == generator_url("http://prom:9090/", "up == 0")


def test_to_alert_adds_external_labels_without_overriding_alert_labels() -> None:
    active = ActiveAlert(KEY, (), AlertState.FIRING, 1.0, T0, fired_at_ms=T0 + MIN, valid_until_ms=T0 + 5 * MIN)
    alert = to_alert(active, rule_id="r.yaml;g;Down", url="", external_labels=(("instance", "x"), ("site", "eu")))
    assert (("alertname", "Down"), ("instance", "a"), ("site", "eu")) == alert.labels


def test_to_alert_uses_fired_at_as_start_and_valid_until_as_end_while_firing() -> None:
    active = ActiveAlert(KEY, (), AlertState.FIRING, 1.0, T0, fired_at_ms=T0 + MIN, valid_until_ms=T0 + 5 * MIN)
    alert = to_alert(active, rule_id="r", url="", external_labels=())
    assert ((T0 + MIN) / 1000, (T0 + 5 * MIN) / 1000) == (alert.starts_at, alert.ends_at)


def test_to_alert_ends_at_resolution_time_once_resolved() -> None:
    active = ActiveAlert(
        KEY, (), AlertState.INACTIVE, 1.0, T0, fired_at_ms=T0, resolved_at_ms=T0 + MIN, valid_until_ms=T0 + 5 * MIN
    )
    alert = to_alert(active, rule_id="r", url="", external_labels=())
    assert (T0 + MIN) / 1000 == alert.ends_at


def test_fingerprint_matches_prometheus_common_labelset_fingerprint() -> None:
    # 5799056148416392346 in prometheus/common model's TestMetricToFingerprint.
    labels = (("fear", "love is not enough"), ("name", "garland, briggs"))
    assert f"{5799056148416392346:016x}" == fingerprint(labels)


def test_fingerprint_of_empty_labels_is_the_fnv_offset() -> None:
    assert f"{14695981039346656037:016x}" == fingerprint(())


# -- restoring alert state after a restart ---------------------------------------------

RESTORE_NOW = 10_000_000
FIVE_MIN = 300_000


def restored(alert: ActiveAlert, *, last_evaluated: int | None, hold_ms: int = FIVE_MIN) -> ActiveAlert | None:
    last = {} if last_evaluated is None else {alert.labels: last_evaluated}
    out = restore_for_state(
        {alert.labels: alert},
        now_ms=RESTORE_NOW,
        hold_ms=hold_ms,
        last_evaluated_ms=last,
        policy=RestorePolicy(outage_tolerance_ms=3_600_000, grace_period_ms=60_000),
    )
    return out.get(alert.labels)


def test_firing_alert_is_restored_unchanged_whatever_the_downtime() -> None:
    firing = ActiveAlert((("alertname", "A"),), (), AlertState.FIRING, 1.0, 1_000, fired_at_ms=2_000)
    assert firing == restored(firing, last_evaluated=None)


def test_pending_alert_keeps_active_at_and_the_downtime_does_not_count() -> None:
    pending = ActiveAlert((("alertname", "A"),), (), AlertState.PENDING, 1.0, RESTORE_NOW - 200_000)
    after = restored(pending, last_evaluated=RESTORE_NOW - 100_000)  # 100 s pending, then 100 s down
    assert after is not None
    assert (pending.active_at_ms, RESTORE_NOW + 200_000) == (after.active_at_ms, after.hold_until_ms)


def test_pending_alert_due_during_the_downtime_waits_for_the_grace_period() -> None:
    pending = ActiveAlert((("alertname", "A"),), (), AlertState.PENDING, 1.0, RESTORE_NOW - 299_000)
    after = restored(pending, last_evaluated=RESTORE_NOW - 1_000)
    assert after is not None and after.hold_until_ms == RESTORE_NOW + 60_000


def test_pending_alert_is_dropped_after_an_outage_longer_than_the_tolerance() -> None:
    pending = ActiveAlert((("alertname", "A"),), (), AlertState.PENDING, 1.0, 0)
    assert restored(pending, last_evaluated=RESTORE_NOW - 3_600_001) is None
    assert restored(pending, last_evaluated=None) is None


def test_a_restored_pending_alert_fires_at_its_hold_until_time() -> None:
    rule = AlertRule("A", hold_ms=FIVE_MIN)
    pending = ActiveAlert((("alertname", "A"),), (), AlertState.PENDING, 1.0, 0, hold_until_ms=FIVE_MIN + 50_000)
    vector = [Point((), 1.0)]
    early = evaluate_alerts({pending.labels: pending}, vector, FIVE_MIN + 49_999, rule, plain)
    assert AlertState.PENDING == early.active[pending.labels].state
    due = evaluate_alerts(early.active, vector, FIVE_MIN + 50_000, rule, plain)
    assert AlertState.FIRING == due.active[pending.labels].state


def targeted(*instances: str) -> list[Point]:
    """`vec` as it reads once every series carries its target's `job` and `instance`."""
    return [
        Point((("__name__", "up"), ("exported_instance", i), ("instance", "agent:9842"), ("job", "node")), 1.0)
        for i in instances
    ]


def test_an_alert_firing_before_the_upgrade_to_target_labels_fires_on_under_its_new_labels() -> None:
    """The upgrade that adds job and instance: the old alert resolves as usual, the same condition under
    its new labels goes on firing at once (sent now), instead of waiting out `for` again as a new pending alert."""
    rule = AlertRule("Down", hold_ms=5 * MIN)
    before = run(rule, [(T0, vec("a")), (T0 + 6 * MIN, vec("a"))])[-1]
    assert ["firing"] == states(before)
    old_state = before.active
    after = evaluate_alerts(old_state, targeted("a"), T0 + 7 * MIN, rule, plain)
    new_key = (("alertname", "Down"), ("exported_instance", "a"), ("instance", "agent:9842"), ("job", "node"))
    carried, resolved = after.active[new_key], after.active[KEY]
    assert (carried.state, carried.active_at_ms, carried.fired_at_ms) == (AlertState.FIRING, T0, T0 + 6 * MIN)
    assert resolved.state is AlertState.INACTIVE
    assert {a.labels for a in after.to_send} == {new_key, KEY}  # the new one firing, the old one resolved


def test_a_new_alert_with_target_labels_and_no_alert_before_them_starts_pending() -> None:
    rule = AlertRule("Down", hold_ms=5 * MIN)
    (result,) = run(rule, [(T0, targeted("a"))])
    assert ["pending"] == states(result)


def test_a_memo_kept_between_evaluations_changes_no_outcome() -> None:
    rule = AlertRule(
        "Down",
        hold_ms=2 * MIN,
        labels=(("severity", "page"),),
        annotations=(("summary", "$instance at $value"),),
    )
    steps = [
        (T0, vec("a", "b")),
        (T0 + MIN, vec("a", "b", value=0.0)),
        (T0 + 2 * MIN, vec("a", "b", value=-0.0)),  # equal to 0.0 as a number, not in the text
        (T0 + 3 * MIN, vec("a", value=-0.0)),
        (T0 + 4 * MIN, vec("a", "b", value=float("nan"))),
        (T0 + 5 * MIN, []),
        (T0 + 6 * MIN, vec("b", value=2.0)),
    ]
    memo = AlertMemo()
    plain_state: Mapping[Labels, ActiveAlert] = {}
    memo_state: Mapping[Labels, ActiveAlert] = {}
    for ts, vector in steps:
        without = evaluate_alerts(plain_state, vector, ts, rule, plain)
        with_memo = evaluate_alerts(memo_state, vector, ts, rule, plain, memo=memo)
        assert shown(without) == shown(with_memo)
        plain_state, memo_state = without.active, with_memo.active


def shown(result: AlertEvaluation) -> str:
    """An evaluation's outcome as text, so that NaN values and -0.0 compare as they print."""
    return repr((sorted(result.active.items()), result.to_send, result.samples, result.error))
