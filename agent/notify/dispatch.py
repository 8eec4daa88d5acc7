"""The dispatcher, as Alertmanager's dispatch/: alerts -> routes -> aggregation groups -> notifications.

`add` is the ruler's notify function. Each alert is routed; per route it joins the aggregation
group of its group labels. A new group is flushed after group_wait (at once when the alert has
already waited that long), then every group_interval. A flush drops the alerts that are muted
(route time intervals, inhibition, silences) and asks the notification log whether the
receiver must hear about the rest: new firing alerts, newly resolved ones, all resolved, or
repeat_interval passed. Resolved alerts leave their group once notified, and empty groups go.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import structlog

from agent.clock import Clock
from agent.config.alerting import InhibitRuleConfig, RouteConfig, TimeIntervalConfig
from agent.model import Alert, AlertState, Labels
from agent.notify.inhibit import Inhibitor
from agent.notify.matchers import matches_all
from agent.notify.model import Enqueue, Notification
from agent.notify.nflog import NotifyLog, needs_update
from agent.notify.route import Route, build_route
from agent.notify.silence import Silences
from agent.notify.timeinterval import TimeIntervals

log = structlog.get_logger(__name__)

IDLE_WAKEUP_SECONDS = 60.0  # how long run() sleeps when no group has a timer


@dataclass
class AggregationGroup:
    """The alerts of one route with the same group labels, and the time of their next flush."""

    route: Route
    labels: Labels
    key: str
    next_at: float  # clock.monotonic()
    alerts: dict[str, Alert] = field(default_factory=dict)  # by fingerprint
    has_flushed: bool = False


@dataclass(frozen=True)
class AlertView:
    """An alert the dispatcher holds, with what Alertmanager's API says of it."""

    alert: Alert
    receivers: tuple[str, ...]  # of the routes it ends on
    silenced_by: tuple[str, ...]  # silence ids
    inhibited_by: tuple[str, ...]  # fingerprints of the firing alerts that mute it
    updated_at: float  # when the dispatcher last heard of it

    @property
    def suppressed(self) -> bool:
        """Silenced or inhibited: Alertmanager's state "suppressed", else "active"."""
        return bool(self.silenced_by or self.inhibited_by)


@dataclass(frozen=True)
class GroupView:
    """One aggregation group as Alertmanager's /api/v2/alerts/groups lists it."""

    labels: Labels
    receiver: str
    alerts: tuple[AlertView, ...]


class Dispatcher:
    """Routes, groups and mutes alerts, and enqueues the notifications that are due."""

    def __init__(
        self,
        route: RouteConfig,
        *,
        inhibit_rules: Sequence[InhibitRuleConfig] = (),
        time_intervals: Sequence[TimeIntervalConfig] = (),
        silences: Silences,
        notify_log: NotifyLog,
        clock: Clock,
        enqueue: Enqueue,
    ) -> None:
        """Route with `route`; mute with the inhibit rules, time intervals and silences; ask `notify_log`."""
        self.silences = silences
        self.notify_log = notify_log
        self.clock = clock
        self.enqueue = enqueue
        self._groups: dict[tuple[int, str], AggregationGroup] = {}
        self._firing: dict[str, Alert] = {}  # every firing alert, the sources of inhibition
        self._updated_at: dict[str, float] = {}  # by fingerprint: when add() last had the alert
        self._wake: asyncio.Event | None = None
        self._configure(route, inhibit_rules, time_intervals)

    def reconfigure(
        self,
        route: RouteConfig,
        *,
        inhibit_rules: Sequence[InhibitRuleConfig] = (),
        time_intervals: Sequence[TimeIntervalConfig] = (),
    ) -> None:
        """Apply a reloaded config: regroup the current alerts; the notification log prevents re-sends."""
        alerts = {fp: a for g in self._groups.values() for fp, a in g.alerts.items()}
        self._groups.clear()
        self._configure(route, inhibit_rules, time_intervals)
        self.add(list(alerts.values()))

    def _configure(
        self,
        route: RouteConfig,
        inhibit_rules: Sequence[InhibitRuleConfig],
        time_intervals: Sequence[TimeIntervalConfig],
    ) -> None:
        self.route = build_route(route)
        self.inhibitor = Inhibitor(inhibit_rules)
        self.time_intervals = TimeIntervals(time_intervals)

    def add(self, alerts: Sequence[Alert]) -> None:
        """Take firing and resolved alerts from the ruler, and send what is due at once."""
        now = self.clock.time()
        for alert in alerts:
            if alert.state is AlertState.PENDING:
                continue  # Prometheus never sends pending alerts; ignore one if it comes
            if _is_resolved(alert, now):
                self._firing.pop(alert.fingerprint, None)
                self._updated_at.pop(alert.fingerprint, None)
            else:
                self._firing[alert.fingerprint] = alert
                self._updated_at[alert.fingerprint] = now
            for route in self.route.match(dict(alert.labels)):
                self._insert(route, alert, now)
        self.flush_due()
        if self._wake is not None:
            self._wake.set()  # a new group may need an earlier wake-up than run() planned

    def _insert(self, route: Route, alert: Alert, now: float) -> None:
        labels = route.group_labels(alert.labels)
        key = route.group_key(labels)
        group = self._groups.get((id(route), key))
        if group is None:
            group = AggregationGroup(route, labels, key, self.clock.monotonic() + route.opts.group_wait)
            self._groups[(id(route), key)] = group
        group.alerts[alert.fingerprint] = alert
        if not group.has_flushed and alert.starts_at + route.opts.group_wait < now:
            group.next_at = min(group.next_at, self.clock.monotonic())  # it has waited long enough

    def flush_due(self) -> float:
        """Flush every group whose timer has passed; seconds until the next timer (inf when idle)."""
        mono, now = self.clock.monotonic(), self.clock.time()
        due = [(key, group) for key, group in self._groups.items() if group.next_at <= mono]
        if due:
            muted = self._muter(now)
            for key, group in due:
                group.next_at = mono + group.route.opts.group_interval
                group.has_flushed = True
                self._flush(group, now, muted)
                if not group.alerts:
                    del self._groups[key]
        return max(0.0, min((g.next_at for g in self._groups.values()), default=math.inf) - mono)

    def _muter(self, now: float) -> Callable[[Mapping[str, str]], bool]:
        """Whether a label set is inhibited or silenced now; built once per flush, asked per alert."""
        self._firing = {fp: a for fp, a in self._firing.items() if not _is_resolved(a, now)}
        self._updated_at = {fp: t for fp, t in self._updated_at.items() if fp in self._firing}
        inhibition = self.inhibitor.snapshot([dict(a.labels) for a in self._firing.values()])
        silences = self.silences.active()
        return lambda labels: inhibition.mutes(labels) or any(matches_all(s.matchers, labels) for s in silences)

    def _flush(self, group: AggregationGroup, now: float, muted: Callable[[Mapping[str, str]], bool]) -> None:
        originals = list(group.alerts.values())
        sent = True
        if not self._muted_by_time(group.route, now):
            visible = [_as_of(a, now) for a in originals if not muted(dict(a.labels))]
            if visible:
                sent = self._notify(group, visible, now)
        if sent:  # a resolved alert is done once notified (or muted); it leaves the group
            for alert in originals:
                if _is_resolved(alert, now):
                    del group.alerts[alert.fingerprint]

    def _muted_by_time(self, route: Route, now: float) -> bool:
        opts = route.opts
        if opts.mute_time_intervals and self.time_intervals.any_contains(opts.mute_time_intervals, now):
            return True
        return bool(opts.active_time_intervals) and not self.time_intervals.any_contains(
            opts.active_time_intervals, now
        )

    def _notify(self, group: AggregationGroup, alerts: Sequence[Alert], now: float) -> bool:
        """Enqueue a notification if the receiver must hear of the group; False if enqueueing failed."""
        receiver = group.route.opts.receiver
        firing = {a.fingerprint for a in alerts if a.state is AlertState.FIRING}
        resolved = {a.fingerprint for a in alerts} - firing
        entry = self.notify_log.get(receiver, group.key)
        if not needs_update(entry, firing, resolved, group.route.opts.repeat_interval, now):
            return True
        notification = Notification(
            receiver,
            group.key,
            group.labels,
            tuple(sorted(alerts, key=alert_order)),
            now,
            previous_sent_at=0.0 if entry is None else entry.sent_at,
        )
        try:
            self.enqueue(notification)
        except Exception as exc:  # the outbox failing must not lose the group: retried next group_interval
            log.error("notification_enqueue_failed", receiver=receiver, group_key=group.key, error=str(exc))
            return False
        self.notify_log.log(receiver, group.key, firing, resolved)
        log.info(
            "notification_enqueued",
            receiver=receiver,
            group_key=group.key,
            status=notification.status.value,
            firing=len(firing),
            resolved=len(resolved),
        )
        return True

    def view(self) -> list[GroupView]:
        """The groups and their unresolved alerts now, each with its receivers and why it is muted."""
        now = self.clock.time()
        inhibition = self.inhibitor.snapshot(
            {fp: dict(a.labels) for fp, a in self._firing.items() if not _is_resolved(a, now)}
        )
        silences = self.silences.active()  # once, not once per alert
        receivers: dict[str, set[str]] = {}
        for group in self._groups.values():
            for fp in group.alerts:
                receivers.setdefault(fp, set()).add(group.route.opts.receiver)
        views: dict[str, AlertView] = {}
        groups = []
        for group in self._groups.values():
            alerts = []
            for fp, alert in group.alerts.items():
                if _is_resolved(alert, now):
                    continue  # as Alertmanager's API: an alert past its end is not listed
                if fp not in views:
                    labels = dict(alert.labels)
                    views[fp] = AlertView(
                        alert,
                        tuple(sorted(receivers[fp])),
                        tuple(s.id for s in silences if matches_all(s.matchers, labels)),
                        tuple(inhibition.inhibited_by(labels)),
                        self._updated_at.get(fp, alert.starts_at),
                    )
                alerts.append(views[fp])
            if alerts:
                groups.append(GroupView(group.labels, group.route.opts.receiver, tuple(alerts)))
        return groups

    async def run(self, stop: asyncio.Event) -> None:
        """Flush groups as their timers fall due, until `stop` is set."""
        self._wake = asyncio.Event()
        try:
            while not stop.is_set():
                self._wake.clear()
                delay = min(self.flush_due(), IDLE_WAKEUP_SECONDS)
                await _wait_any((stop, self._wake), delay)
        finally:
            self._wake = None


async def _wait_any(events: Sequence[asyncio.Event], timeout: float) -> None:
    tasks = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _is_resolved(alert: Alert, now: float) -> bool:
    """Resolved by the ruler, or not re-sent before its ends_at (Alertmanager's Resolved())."""
    return alert.state is not AlertState.FIRING or alert.ends_at <= now


def _as_of(alert: Alert, now: float) -> Alert:
    """The alert as a receiver should see it now: one that timed out reads as resolved."""
    if alert.state is AlertState.FIRING and alert.ends_at <= now:
        return replace(alert, state=AlertState.INACTIVE, resolved_at=alert.ends_at)
    return alert


def alert_order(alert: Alert) -> tuple[object, ...]:
    """Alertmanager's AlertSlice order: job, instance, then the label set (fewer labels first).

    Firing and resolved alerts are not separated, as in Alertmanager: templates that want them
    apart use `.Alerts.Firing` and `.Alerts.Resolved`.
    """
    labels = dict(alert.labels)
    job, instance = labels.get("job"), labels.get("instance")
    return (
        job is None,
        job or "",
        instance is None,
        instance or "",
        len(alert.labels),
        alert.labels,
    )
