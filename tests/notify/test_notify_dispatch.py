"""The dispatcher: grouping and timers, muting, and the persisted notification log, on a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from agent.clock import Clock, FakeClock, SystemClock
from agent.config.alerting import (
    InhibitRuleConfig,
    RouteConfig,
    TimeIntervalConfig,
    TimeIntervalSpec,
    TimeRangeConfig,
)
from agent.config.schema import Duration
from agent.model import Alert, AlertState, fingerprint, labels_of
from agent.notify.dispatch import Dispatcher
from agent.notify.model import Notification, Status
from agent.notify.nflog import NotifyLog
from agent.notify.silence import Silences

MINUTE = 60.0
HOUR = 3600.0
DAY = 24 * HOUR
ROUTE = RouteConfig(receiver="team", group_by=["alertname"])


def alert(clock: Clock, name: str = "TopicSilent", **labels: str) -> Alert:
    """A firing alert as the ruler sends it, valid long enough for any test."""
    now = clock.time()
    label_set = labels_of({"alertname": name, **labels})
    return Alert(
        labels=label_set,
        annotations=(),
        state=AlertState.FIRING,
        value=1.0,
        active_at=now,
        starts_at=now,
        ends_at=now + 30 * DAY,
        resolved_at=None,
        generator_url="",
        rule="r.yaml;g;" + name,
        fingerprint=fingerprint(label_set),
    )


def resolve(firing: Alert, clock: Clock) -> Alert:
    now = clock.time()
    return replace(firing, state=AlertState.INACTIVE, ends_at=now, resolved_at=now)


class Harness:
    """A dispatcher over a state directory, recording what it enqueues."""

    def __init__(
        self,
        tmp_path: Path,
        clock: Clock | None = None,
        route: RouteConfig = ROUTE,
        *,
        inhibit_rules: Sequence[InhibitRuleConfig] = (),
        time_intervals: Sequence[TimeIntervalConfig] = (),
    ) -> None:
        self.clock = clock or FakeClock()
        self.sent: list[Notification] = []
        self.silences = Silences(tmp_path, self.clock)
        self.notify_log = NotifyLog(tmp_path, self.clock)
        self.dispatcher = Dispatcher(
            route,
            inhibit_rules=inhibit_rules,
            time_intervals=time_intervals,
            silences=self.silences,
            notify_log=self.notify_log,
            clock=self.clock,
            enqueue=self.sent.append,
        )

    def stop(self) -> None:
        """Shut down as the daemon does: the notification log's queued writes reach the disk."""
        self.notify_log.close()

    def advance(self, seconds: float) -> None:
        assert isinstance(self.clock, FakeClock)
        self.clock.advance(seconds)
        self.dispatcher.flush_due()

    def summary(self) -> list[tuple[str, str, list[str]]]:
        """(receiver, status, alert names with state) per notification, in order."""
        return [
            (n.receiver, n.status.value, [f"{a.name}{dict(a.labels).get('p', '')}:{a.state.value}" for a in n.alerts])
            for n in self.sent
        ]


def test_group_wait_zero_sends_the_first_alert_at_once(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.dispatcher.add([alert(h.clock)])
    assert [("team", "firing", ["TopicSilent:firing"])] == h.summary()


def test_notification_carries_alertmanagers_group_key_and_labels(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.dispatcher.add([alert(h.clock, topic="ingest")])
    assert ('{}:{alertname="TopicSilent"}', labels_of(alertname="TopicSilent")) == (
        h.sent[0].group_key,
        h.sent[0].group_labels,
    )


def test_new_alert_in_a_notified_group_waits_for_group_interval(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.dispatcher.add([alert(h.clock, p="1")])
    h.advance(MINUTE)
    h.dispatcher.add([alert(h.clock, p="2")])
    before = len(h.sent)
    h.advance(4 * MINUTE)
    assert (1, ["TopicSilent1:firing", "TopicSilent2:firing"]) == (before, h.summary()[-1][2])


def test_unchanged_group_is_not_resent_before_repeat_interval(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.dispatcher.add([alert(h.clock)])
    for _ in range(47):  # 47 group intervals of 5 minutes: 3h55m
        h.advance(5 * MINUTE)
    assert 1 == len(h.sent)


def test_unchanged_group_is_resent_after_repeat_interval(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.dispatcher.add([alert(h.clock)])
    for _ in range(49):  # the first group interval past 4h
        h.advance(5 * MINUTE)
    assert [("team", "firing", ["TopicSilent:firing"])] * 2 == h.summary()


def test_a_repeat_has_a_dedup_key_of_its_own(tmp_path: Path) -> None:
    # The outbox drops a notification whose key it already delivered; a repeat must not look like one.
    h = Harness(tmp_path)
    h.dispatcher.add([alert(h.clock)])
    for _ in range(49):
        h.advance(5 * MINUTE)
    first, repeat = h.sent
    assert first.dedup_key != repeat.dedup_key


def test_the_same_decision_after_a_crash_keeps_its_dedup_key(tmp_path: Path) -> None:
    # A crash between enqueueing and writing the notification log makes the restarted dispatcher decide
    # again; the outbox then recognises the notification it already holds.
    clock = FakeClock()
    firing = alert(clock)
    before = Harness(tmp_path / "before", clock)
    before.dispatcher.add([firing])
    after_crash = Harness(tmp_path / "after", clock)  # an empty notification log: nothing was recorded
    after_crash.dispatcher.add([firing])
    assert before.sent[0].dedup_key == after_crash.sent[0].dedup_key


def test_resolved_group_is_notified_once(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    firing = alert(h.clock)
    h.dispatcher.add([firing])
    h.advance(MINUTE)
    h.dispatcher.add([resolve(firing, h.clock)])
    for _ in range(4):
        h.advance(5 * MINUTE)
        h.dispatcher.add([resolve(firing, h.clock)])  # the ruler re-sends resolved alerts for a while
    assert [("team", "firing", ["TopicSilent:firing"]), ("team", "resolved", ["TopicSilent:inactive"])] == h.summary()


def test_two_hundred_alerts_of_one_group_give_one_notification_then_one_resolved(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    alerts = [alert(h.clock, p=str(p)) for p in range(200)]
    h.dispatcher.add(alerts)
    h.advance(10 * MINUTE)
    h.dispatcher.add([resolve(a, h.clock) for a in alerts])
    h.advance(10 * MINUTE)
    assert [(Status.FIRING, 200), (Status.RESOLVED, 200)] == [(n.status, len(n.alerts)) for n in h.sent]


def test_group_wait_delays_the_first_notification(tmp_path: Path) -> None:
    h = Harness(tmp_path, route=replace(ROUTE, group_wait=Duration(30)))
    h.dispatcher.add([alert(h.clock)])
    waited = (len(h.sent), h.dispatcher.flush_due())
    h.advance(30.0)
    assert ((0, 30.0), 1) == (waited, len(h.sent))


def test_alert_that_already_waited_group_wait_is_sent_at_once(tmp_path: Path) -> None:
    h = Harness(tmp_path, route=replace(ROUTE, group_wait=Duration(30)))
    old = replace(alert(h.clock), starts_at=h.clock.time() - MINUTE)
    h.dispatcher.add([old])
    assert 1 == len(h.sent)


def test_flush_due_returns_seconds_until_the_next_group_timer(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.dispatcher.add([alert(h.clock)])
    h.advance(MINUTE)
    assert 4 * MINUTE == h.dispatcher.flush_due()


def test_alert_not_resent_before_its_ends_at_reads_as_resolved(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.dispatcher.add([replace(alert(h.clock), ends_at=h.clock.time() + 4 * MINUTE)])
    h.advance(5 * MINUTE)
    assert ["firing", "resolved"] == [status for _, status, _ in h.summary()]


def test_continue_sends_one_notification_per_matching_route(tmp_path: Path) -> None:
    route = RouteConfig(
        receiver="default",
        group_by=["alertname"],
        routes=[
            RouteConfig(matchers=["severity=page"], receiver="pager", continue_=True),
            RouteConfig(matchers=["team=data"], receiver="data"),
        ],
    )
    h = Harness(tmp_path, route=route)
    h.dispatcher.add([alert(h.clock, severity="page", team="data")])
    assert ["pager", "data"] == [n.receiver for n in h.sent]


def test_silenced_alert_is_not_sent(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.silences.add(["alertname=TopicSilent"], h.clock.time(), h.clock.time() + HOUR, "ops", "")
    h.dispatcher.add([alert(h.clock)])
    h.advance(5 * MINUTE)
    assert [] == h.sent


def test_alert_is_sent_at_the_next_group_interval_after_its_silence_expires(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    silence_id = h.silences.add(["alertname=TopicSilent"], h.clock.time(), h.clock.time() + HOUR, "ops", "")
    h.dispatcher.add([alert(h.clock)])
    h.silences.expire(silence_id)
    h.advance(5 * MINUTE)
    assert 1 == len(h.sent)


def test_inhibited_alert_is_not_sent_but_its_source_is(tmp_path: Path) -> None:
    rule = InhibitRuleConfig(
        source_matchers=["alertname=ClusterDown"], target_matchers=["alertname=TopicSilent"], equal=["cluster"]
    )
    h = Harness(tmp_path, inhibit_rules=[rule])
    h.dispatcher.add([alert(h.clock, "TopicSilent", cluster="main"), alert(h.clock, "ClusterDown", cluster="main")])
    assert [["ClusterDown:firing"]] == [names for _, _, names in h.summary()]


def test_target_is_sent_once_its_inhibiting_source_resolves(tmp_path: Path) -> None:
    rule = InhibitRuleConfig(source_matchers=["alertname=ClusterDown"], target_matchers=["alertname=TopicSilent"])
    h = Harness(tmp_path, inhibit_rules=[rule])
    source = alert(h.clock, "ClusterDown")
    h.dispatcher.add([alert(h.clock, "TopicSilent"), source])
    h.dispatcher.add([resolve(source, h.clock)])
    h.advance(5 * MINUTE)
    assert [["ClusterDown:firing"], ["TopicSilent:firing"], ["ClusterDown:inactive"]] == [
        names for _, _, names in h.summary()
    ]


NIGHTS = TimeIntervalConfig("nights", [TimeIntervalSpec(times=[TimeRangeConfig("22:00", "24:00")])])


def test_route_in_a_mute_time_interval_sends_nothing(tmp_path: Path) -> None:
    # FakeClock starts at 2023-11-14 22:13:20 UTC, inside the interval.
    route = RouteConfig(receiver="team", routes=[RouteConfig(matchers=["team=data"], mute_time_intervals=["nights"])])
    h = Harness(tmp_path, route=route, time_intervals=[NIGHTS])
    h.dispatcher.add([alert(h.clock, team="data")])
    assert [] == h.sent


def test_route_outside_its_active_time_interval_sends_nothing(tmp_path: Path) -> None:
    days = TimeIntervalConfig("days", [TimeIntervalSpec(times=[TimeRangeConfig("08:00", "18:00")])])
    route = RouteConfig(receiver="team", routes=[RouteConfig(matchers=["team=data"], active_time_intervals=["days"])])
    h = Harness(tmp_path, route=route, time_intervals=[days])
    h.dispatcher.add([alert(h.clock, team="data")])
    assert [] == h.sent


def test_restart_does_not_resend_what_was_sent(tmp_path: Path) -> None:
    clock = FakeClock()
    firing = alert(clock)
    before = Harness(tmp_path, clock)
    before.dispatcher.add([firing])
    before.stop()
    clock.advance(MINUTE)
    restarted = Harness(tmp_path, clock)
    restarted.dispatcher.add([firing])
    restarted.advance(5 * MINUTE)
    assert [] == restarted.sent


def test_resolution_after_a_restart_is_still_notified(tmp_path: Path) -> None:
    clock = FakeClock()
    firing = alert(clock)
    before = Harness(tmp_path, clock)
    before.dispatcher.add([firing])
    before.stop()
    clock.advance(MINUTE)
    restarted = Harness(tmp_path, clock)
    restarted.dispatcher.add([resolve(firing, clock)])
    assert [("team", "resolved", ["TopicSilent:inactive"])] == restarted.summary()


def test_failed_enqueue_is_retried_at_the_next_group_interval(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    failures = [OSError("disk full")]

    def flaky(notification: Notification) -> None:
        if failures:
            raise failures.pop()
        h.sent.append(notification)

    h.dispatcher.enqueue = flaky
    h.dispatcher.add([alert(h.clock)])
    h.advance(5 * MINUTE)
    assert 1 == len(h.sent)


def test_reconfigure_regroups_without_resending(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.dispatcher.add([alert(h.clock)])
    h.dispatcher.reconfigure(replace(ROUTE, repeat_interval=Duration(HOUR)))
    h.advance(5 * MINUTE)
    assert 1 == len(h.sent)


def test_pending_alerts_are_ignored(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.dispatcher.add([replace(alert(h.clock), state=AlertState.PENDING)])
    assert [] == h.sent


def test_run_flushes_groups_when_their_timer_falls_due(tmp_path: Path) -> None:
    h = Harness(tmp_path, SystemClock(), route=replace(ROUTE, group_wait=Duration(0.05)))

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(h.dispatcher.run(stop))
        await asyncio.sleep(0)
        h.dispatcher.add([alert(h.clock)])
        for _ in range(100):
            if h.sent:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 1.0)

    asyncio.run(scenario())
    assert 1 == len(h.sent)


def test_alerts_are_in_alertmanagers_order_firing_and_resolved_together(tmp_path: Path) -> None:
    """AlertSlice order: job, then instance, then the label set; a resolved alert keeps its place."""
    h = Harness(tmp_path)
    first, second = alert(h.clock, p="1"), alert(h.clock, p="2")
    h.dispatcher.add([first, second, alert(h.clock, p="0", job="a"), alert(h.clock, p="4", instance="x")])
    h.dispatcher.add([resolve(first, h.clock)])
    h.dispatcher.add([alert(h.clock, p="3")])
    h.advance(5 * MINUTE)
    assert [
        "TopicSilent0:firing",  # a job first
        "TopicSilent4:firing",  # then an instance
        "TopicSilent1:inactive",
        "TopicSilent2:firing",
        "TopicSilent3:firing",
    ] == h.summary()[-1][2]


def test_resolved_alert_leaves_its_group_once_notified(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    first, second = alert(h.clock, p="1"), alert(h.clock, p="2")
    h.dispatcher.add([first, second])
    h.dispatcher.add([resolve(second, h.clock)])
    h.advance(5 * MINUTE)
    h.dispatcher.add([alert(h.clock, p="3")])
    h.advance(5 * MINUTE)
    assert ["TopicSilent1:firing", "TopicSilent3:firing"] == h.summary()[-1][2]
