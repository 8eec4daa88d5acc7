"""The notification pipeline of one daemon: silences, the dispatcher, the outbox, Alertmanager forwarding.

The ruler is handed `Notifications.notify` and knows nothing else of it. Everything is built
from the config; nothing touches the disk unless routes, receivers or silences are configured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any

from agent.clock import Clock
from agent.config.receivers import receiver_errors
from agent.config.schema import Config
from agent.model import Alert, MetricMeta, Sample
from agent.notify.alertmanager import AlertmanagerForwarder
from agent.notify.dispatch import Dispatcher
from agent.notify.nflog import NotifyLog
from agent.notify.outbox import Outbox
from agent.notify.route import validate_alerting
from agent.notify.senders import build_senders, close_senders
from agent.notify.silence import SilenceError, Silences, matchers_from_json, parse_rfc3339


def alerting_errors(config: Config) -> list[str]:
    """Routing and receiver mistakes the typed loader cannot see (unknown receivers, bad matchers, a
    receiver without its URL), found without I/O."""
    errors = receiver_errors(config.receivers, config.alertmanagers)
    if config.route is None:
        if config.receivers:
            errors.append("route: receivers are configured but no route leads to them")
        return errors
    return errors + validate_alerting(
        config.route,
        receivers=[r.name for r in config.receivers],
        inhibit_rules=config.inhibit_rules,
        time_intervals=config.time_intervals,
        silences=config.silences,
    )


class Notifications:
    """Routes the ruler's alerts to receivers and Alertmanagers, durably."""

    def __init__(self, config: Config, clock: Clock, external_url: str) -> None:
        self.clock = clock
        self.silences: Silences | None = None
        self.dispatcher: Dispatcher | None = None
        self.outbox: Outbox | None = None
        self.forwarder: AlertmanagerForwarder | None = None
        if config.route is not None or config.silences:
            self.silences = Silences(config.state_dir, clock)
            self.silences.load_config(config.silences)
        if config.route is not None and self.silences is not None:
            self.integrations = build_senders(config.receivers, external_url=external_url)
            queue = config.notification_queue
            self.outbox = Outbox(
                config.state_dir,
                self.integrations,
                clock,
                max_concurrency_per_receiver=queue.max_in_flight,
                capacity=queue.capacity,
                max_age=float(queue.max_age),
            )
            self.dispatcher = Dispatcher(
                config.route,
                inhibit_rules=config.inhibit_rules,
                time_intervals=config.time_intervals,
                silences=self.silences,
                notify_log=NotifyLog(config.state_dir, clock),
                clock=clock,
                enqueue=self.outbox.enqueue,
            )
        if config.alertmanagers:
            self.forwarder = AlertmanagerForwarder(config.alertmanagers, clock)

    def notify(self, alerts: Sequence[Alert]) -> None:
        """The ruler's notify function: every state change and re-send of its alerts."""
        if self.dispatcher is not None:
            self.dispatcher.add(alerts)
        if self.forwarder is not None:
            self.forwarder.add(alerts)

    def tasks(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        """What runs on the event loop until `stop`."""
        parts = [self.dispatcher, self.outbox, self.forwarder]
        return [part.run(stop) for part in parts if part is not None]

    async def reconfigure(self, config: Config, external_url: str) -> None:
        """Apply new routes, receivers, inhibitions, time intervals and config silences."""
        if self.outbox is not None:
            old, self.integrations = self.integrations, build_senders(config.receivers, external_url=external_url)
            self.outbox.replace_integrations(self.integrations)
            await close_senders(old)
        if self.silences is not None:
            self.silences.load_config(config.silences)
        if self.dispatcher is not None and config.route is not None:
            self.dispatcher.reconfigure(
                config.route, inhibit_rules=config.inhibit_rules, time_intervals=config.time_intervals
            )

    def metrics(self) -> list[MetricMeta]:
        return [*(self.outbox.metrics() if self.outbox else ()), *(self.forwarder.metrics() if self.forwarder else ())]

    def samples(self) -> list[Sample]:
        return [*(self.outbox.samples() if self.outbox else []), *(self.forwarder.samples() if self.forwarder else [])]

    async def close(self) -> None:
        if self.outbox is not None:
            await close_senders(self.integrations)
            self.outbox.close()
        if self.forwarder is not None:
            await self.forwarder.aclose()


class SilencesApi:
    """The web layer's SilenceApi over Silences, in Alertmanager's API v2 shapes."""

    def __init__(self, silences: Silences) -> None:
        self._silences = silences

    def list_json(self) -> list[dict[str, Any]]:
        return [self._silences.to_json(s) for s in self._silences.list()]

    def add_json(self, body: dict[str, Any]) -> str:
        """Create from a PostableSilence: matchers, startsAt, endsAt, createdBy, comment."""
        try:
            matchers = matchers_from_json(body.get("matchers") or [])
            now = self._silences.clock.time()
            starts_at = parse_rfc3339(body["startsAt"]) if body.get("startsAt") else now
            ends_at = parse_rfc3339(str(body["endsAt"]))
        except KeyError as exc:
            raise SilenceError(f"missing field {exc.args[0]}") from exc
        return self._silences.add(
            matchers, starts_at, ends_at, str(body.get("createdBy", "")), str(body.get("comment", ""))
        )

    def expire(self, silence_id: str) -> None:
        self._silences.expire(silence_id)
