"""Hand alerts to Alertmanager instances, as Prometheus' notifier does (notifier/notifier.go).

Every alert goes to every target's `/api/v2/alerts` as a JSON list of postable alerts (labels,
annotations, startsAt, endsAt, generatorURL), in batches of at most 256. Cadence is
Prometheus': an alert is posted as soon as it is new or changes state, re-posted every minute
while it fires (its endsAt, the ruler's valid-until, keeps moving forward), and a resolved
alert, endsAt = its resolution time, is re-posted every minute for 15 minutes so an
Alertmanager that missed it recovers. Failures are not retried: the next re-post is the retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections import deque
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import structlog

from agent.clock import Clock
from agent.config.receivers import AlertmanagerTargetConfig
from agent.config.remote_write import RelabelConfig
from agent.model import Alert, AlertState, MetricMeta, Sample, counter, fingerprint, gauge, labels_of
from agent.notify.http import client_secrets, new_client, post
from agent.notify.integrations.data import go_time
from agent.notify.model import Outcome
from agent.redact import redact, secret_forms
from agent.relabel import Relabeler

log = structlog.get_logger()

API_PATH = "/api/v2/alerts"
MAX_BATCH = 256  # Prometheus' DefaultMaxBatchSize
QUEUE_CAPACITY = 10_000  # Prometheus' default --alertmanager.notification-queue-capacity
RESEND_SECONDS = 60.0  # Prometheus' --rules.alert.resend-delay
RESOLVED_RETENTION_SECONDS = 15 * 60.0  # Prometheus keeps re-sending a resolved alert this long

METRICS = (
    counter("tripwired_alertmanager_alerts_sent_total", "Alerts posted to an Alertmanager and accepted."),
    counter("tripwired_alertmanager_errors_total", "Alerts an Alertmanager did not accept (error or timeout)."),
    counter("tripwired_alertmanager_alerts_dropped_total", "Alerts dropped because the forwarding queue was full."),
    gauge("tripwired_alertmanager_queue_length", "Alerts waiting to be posted to the Alertmanagers."),
)


def postable(alert: Alert) -> dict[str, object]:
    """An alert as Alertmanager's POST /api/v2/alerts takes it (api/v2/openapi.yaml postableAlert)."""
    return {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": go_time(alert.starts_at),
        "endsAt": go_time(alert.ends_at),
        "generatorURL": alert.generator_url,
    }


@dataclass(slots=True)
class _Tracked:
    alert: Alert
    posted_at: float


class _Target:
    """One Alertmanager: its endpoint, its client and how its posts went."""

    def __init__(self, config: AlertmanagerTargetConfig) -> None:
        self.endpoint = config.url.rstrip("/") + API_PATH
        self.name = redact(config.url)  # scheme://host only: the label and log field
        self.client = new_client(config.http_config)
        self.timeout = float(config.timeout)
        # The URL is not a declared secret, but a path prefix or user:password in it may be one.
        self.secrets: Collection[str] = client_secrets(config.http_config) + secret_forms(config.url)
        self.sent = 0
        self.errors = 0


class AlertmanagerForwarder:
    """Posts the ruler's alerts to every configured Alertmanager with Prometheus' cadence."""

    def __init__(
        self,
        targets: Sequence[AlertmanagerTargetConfig],
        clock: Clock,
        *,
        resend_seconds: float = RESEND_SECONDS,
        queue_capacity: int = QUEUE_CAPACITY,
        tick_seconds: float = 1.0,
        relabel: Sequence[RelabelConfig] = (),
    ) -> None:
        """Forward to `targets` (none: nothing is posted), re-sending every `resend_seconds`."""
        self.clock = clock
        self._relabeler = Relabeler(relabel)
        self.resend_seconds = resend_seconds
        self.tick_seconds = tick_seconds
        self._targets = [_Target(t) for t in targets]
        self._queue: deque[Alert] = deque()
        self._capacity = queue_capacity
        self._tracked: dict[str, _Tracked] = {}
        self._wake = asyncio.Event()
        self.dropped = 0

    def add(self, alerts: Iterable[Alert]) -> None:
        """Take the ruler's latest word on some alerts; new ones and state changes go out at once."""
        now = self.clock.time()
        for alert in alerts:
            if alert.state is AlertState.PENDING:
                continue  # Prometheus never sends pending alerts
            key = alert.fingerprint  # the ruler's alert, whatever relabelling makes of it
            sent = self._relabelled(alert)
            if sent is None:
                continue
            before = self._tracked.get(key)
            if before is None or before.alert.state is not sent.state:
                self._tracked[key] = _Tracked(sent, now)
                self._enqueue([sent])
            else:
                before.alert = sent  # a fresher endsAt, posted at the next re-send

    def _relabelled(self, alert: Alert) -> Alert | None:
        """`alert` after `alert_relabel_configs` (None: dropped), as Prometheus' notifier relabels before queueing."""
        if not self._relabeler:
            return alert
        labels = self._relabeler.apply(dict(alert.labels))
        if labels is None:
            return None
        relabelled = labels_of(labels)
        return dataclasses.replace(alert, labels=relabelled, fingerprint=fingerprint(relabelled))

    def due(self) -> list[Alert]:
        """Alerts whose re-send is due now; forgets expired and long-resolved ones."""
        now = self.clock.time()
        out: list[Alert] = []
        for fp, tracked in list(self._tracked.items()):
            alert = tracked.alert
            if _forgotten(alert, now):
                del self._tracked[fp]
            elif tracked.posted_at + self.resend_seconds <= now:
                tracked.posted_at = now
                out.append(alert)
        return out

    def _enqueue(self, alerts: Sequence[Alert]) -> None:
        self._queue.extend(alerts)
        overflow = len(self._queue) - self._capacity
        for _ in range(max(0, overflow)):
            self._queue.popleft()  # the oldest go first, as in Prometheus
        if overflow > 0:
            self.dropped += overflow
            log.warning("alertmanager_queue_full", dropped=overflow)
        self._wake.set()

    def next_batch(self) -> list[Alert]:
        """The next batch to post (at most MAX_BATCH alerts), taken off the queue."""
        batch: list[Alert] = []
        while self._queue and len(batch) < MAX_BATCH:
            batch.append(self._queue.popleft())
        return batch

    async def run(self, stop: asyncio.Event) -> None:
        """Post queued alerts and due re-sends until `stop` is set."""
        while not stop.is_set():
            self._enqueue_due()
            while batch := self.next_batch():
                await self.send_batch(batch)
            self._wake.clear()
            # A stop is noticed within one tick; an add wakes the loop at once.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick_seconds)

    async def aclose(self) -> None:
        """Close the HTTP clients (at shutdown, after `run` has returned)."""
        for target in self._targets:
            await target.client.aclose()

    def _enqueue_due(self) -> None:
        due = self.due()
        if due:
            self._enqueue(due)

    async def send_batch(self, alerts: Sequence[Alert]) -> bool:
        """Post one batch to every target at once; True if at least one accepted it."""
        body = json.dumps([postable(a) for a in alerts]).encode()
        results = await asyncio.gather(*(self._post(t, body, len(alerts)) for t in self._targets))
        return any(results)

    async def _post(self, target: _Target, body: bytes, count: int) -> bool:
        try:
            posted = await asyncio.wait_for(post(target.client, target.endpoint, body, target.secrets), target.timeout)
        except TimeoutError:
            target.errors += count
            log.warning("alertmanager_post_failed", alertmanager=target.name, error="timed out")
            return False
        if posted.result.outcome is Outcome.DELIVERED:
            target.sent += count
            return True
        target.errors += count
        log.warning("alertmanager_post_failed", alertmanager=target.name, error=posted.result.reason)
        return False

    def metrics(self) -> Sequence[MetricMeta]:
        """Every metric `samples` returns, declared."""
        return METRICS

    def samples(self) -> list[Sample]:
        """Alerts sent, errors and drops by Alertmanager, and the queue length."""
        out = [
            Sample("tripwired_alertmanager_alerts_dropped_total", (), float(self.dropped)),
            Sample("tripwired_alertmanager_queue_length", (), float(len(self._queue))),
        ]
        for target in self._targets:
            labels = labels_of(alertmanager=target.name)
            out.append(Sample("tripwired_alertmanager_alerts_sent_total", labels, float(target.sent)))
            out.append(Sample("tripwired_alertmanager_errors_total", labels, float(target.errors)))
        return out


def _forgotten(alert: Alert, now: float) -> bool:
    """Resolved long enough ago, or firing but no longer refreshed by the ruler (its endsAt passed)."""
    if alert.state is AlertState.FIRING:
        return alert.ends_at < now
    resolved_at = alert.resolved_at if alert.resolved_at is not None else alert.ends_at
    return resolved_at + RESOLVED_RETENTION_SECONDS < now
