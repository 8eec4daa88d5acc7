"""The notification pipeline of one daemon: silences, the dispatcher, the outbox, Alertmanager forwarding.

The ruler is handed `Notifications.notify` and knows nothing else of it. Everything is built
from the config; nothing touches the disk unless routes, receivers or silences are configured, and
the dispatcher, outbox, integrations and templates are imported only then (~3 MB a daemon without
a route does not carry).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.clock import Clock
from agent.config.load import ConfigError
from agent.config.receivers import receiver_errors
from agent.config.remote_write import RelabelConfig
from agent.config.schema import AlertmanagerTargetConfig, Config
from agent.model import Alert, MetricMeta, Sample
from agent.notify.route import validate_alerting
from agent.notify.silence import SilenceError, Silences, matchers_from_json, parse_rfc3339

if TYPE_CHECKING:
    from agent.notify.alertmanager import AlertmanagerForwarder
    from agent.notify.dispatch import Dispatcher
    from agent.notify.integrations.registry import Integrations
    from agent.notify.nflog import NotifyLog
    from agent.notify.outbox import Outbox


def _forwarding(config: Config) -> tuple[list[AlertmanagerTargetConfig], list[RelabelConfig]]:
    """What the Alertmanager forwarder is made of: a reload that changes it makes a new one."""
    return config.alertmanager_targets(), config.alerting.alert_relabel_configs


def _forwarder(config: Config, clock: Clock) -> AlertmanagerForwarder | None:
    targets, relabel = _forwarding(config)
    if not targets:
        return None
    # Imported here: only a daemon that forwards to an Alertmanager carries the HTTP client for it.
    from agent.notify.alertmanager import AlertmanagerForwarder

    return AlertmanagerForwarder(targets, clock, relabel=relabel)


def alerting_errors(config: Config) -> list[str]:
    """Routing and receiver mistakes the typed loader cannot see (unknown receivers, bad matchers, a
    receiver without its URL), found without I/O."""
    errors = receiver_errors(config.receivers, config.alertmanager_targets()) + notify_template_errors(config)
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


def notify_template_errors(config: Config) -> list[str]:
    """Template files that do not parse, and receiver fields whose templates do not (file/line/field)."""
    if not config.templates and not config.receivers:
        return []
    from agent.notify.integrations.registry import integration_configs
    from agent.notify.template import TemplateError, load_templates, template_errors

    try:
        templates = load_templates(config.templates)
    except TemplateError as exc:
        return [f"templates: {exc}"]
    except OSError as exc:
        return [f"templates: cannot read {exc.filename}: {exc.strerror}"]
    errors: list[str] = []
    for i, receiver in enumerate(config.receivers):
        for kind, configs in integration_configs(receiver):
            for j, integration in enumerate(configs):
                errors += template_errors(templates, integration, f"receivers[{i}].{kind}_configs[{j}]")
    return errors


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
        self.integrations: Integrations = {}
        if config.route is not None and self.silences is not None:
            from agent.notify.dispatch import Dispatcher
            from agent.notify.integrations.registry import build_senders
            from agent.notify.nflog import NotifyLog
            from agent.notify.outbox import Outbox
            from agent.notify.template import load_templates

            self.integrations = build_senders(
                config.receivers, external_url=external_url, templates=load_templates(config.templates)
            )
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
                notify_log=NotifyLog(config.state_dir, clock, db_thread=self.outbox.db_thread),
                clock=clock,
                enqueue=self.outbox.enqueue,
            )
        self.forwarder = _forwarder(config, clock)
        self.forwarding = _forwarding(config)
        self.forwarder_stop = asyncio.Event()  # its own, so a reload can replace the forwarder

    def notify(self, alerts: Sequence[Alert]) -> None:
        """The ruler's notify function: every state change and re-send of its alerts."""
        if self.dispatcher is not None:
            self.dispatcher.add(alerts)
        if self.forwarder is not None:
            self.forwarder.add(alerts)

    def tasks(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        """What runs on the event loop until `stop`."""
        parts = [self.dispatcher, self.outbox]
        loops = [part.run(stop) for part in parts if part is not None]
        if self.forwarder is not None:
            loops.append(self.forwarder.run(self.forwarder_stop))
        return [*loops, self._stop_forwarder_on(stop)]

    async def _stop_forwarder_on(self, stop: asyncio.Event) -> None:
        """The forwarder has a stop of its own (a reload may replace it); the daemon's stop ends it too."""
        await stop.wait()
        self.forwarder_stop.set()

    def prepare(self, config: Config, external_url: str) -> NewParts:
        """Open what a reloaded config needs and this pipeline lacks (silences, outbox, forwarder).

        Opening may fail (OSError, sqlite3.Error, StateError); nothing of this pipeline changes
        until `apply`, so a reload that fails here or later keeps the old pipeline whole.
        """
        parts = NewParts(integrations=_integrations(config, external_url))
        try:
            if self.silences is None and (config.route is not None or config.silences):
                parts.silences = Silences(config.state_dir, self.clock)
            if self.outbox is None and config.route is not None:
                from agent.notify.nflog import NotifyLog
                from agent.notify.outbox import Outbox

                parts.outbox = Outbox(config.state_dir, parts.integrations, self.clock)
                parts.notify_log = NotifyLog(config.state_dir, self.clock, db_thread=parts.outbox.db_thread)
        except BaseException:
            parts.close_stores()
            raise
        if _forwarding(config) != self.forwarding:
            parts.forwarder = _forwarder(config, self.clock)
            parts.replace_forwarder = True
        return parts

    async def apply(self, config: Config, parts: NewParts, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        """Switch to the reloaded config: routes, receivers, inhibitions, time intervals, silences,
        Alertmanagers. Returns the loops of parts that did not run before, for the daemon to start."""
        started: list[Coroutine[Any, Any, None]] = []
        self.silences = self.silences or parts.silences
        if self.silences is not None:
            self.silences.load_config(config.silences)
        if parts.outbox is not None:
            self.outbox, self.integrations = parts.outbox, parts.integrations
            started.append(self.outbox.run(stop))
        elif self.outbox is not None:
            old, self.integrations = self.integrations, parts.integrations
            self.outbox.replace_integrations(self.integrations)
            await _close_senders(old)
        started += self._apply_route(config, parts, stop)
        if parts.replace_forwarder:
            if self.forwarder is not None:
                self.forwarder_stop.set()
                await self.forwarder.aclose()
            self.forwarder, self.forwarding = parts.forwarder, _forwarding(config)
            self.forwarder_stop = asyncio.Event()
            if self.forwarder is not None:
                started.append(self.forwarder.run(self.forwarder_stop))
        return started

    def _apply_route(self, config: Config, parts: NewParts, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        if config.route is None:
            return []  # a removed route keeps the last one: alerts in flight still need a way out
        if self.dispatcher is not None:
            self.dispatcher.reconfigure(
                config.route, inhibit_rules=config.inhibit_rules, time_intervals=config.time_intervals
            )
            return []
        if self.outbox is None or self.silences is None or parts.notify_log is None:
            return []
        from agent.notify.dispatch import Dispatcher

        self.dispatcher = Dispatcher(
            config.route,
            inhibit_rules=config.inhibit_rules,
            time_intervals=config.time_intervals,
            silences=self.silences,
            notify_log=parts.notify_log,
            clock=self.clock,
            enqueue=self.outbox.enqueue,
        )
        return [self.dispatcher.run(stop)]

    def metrics(self) -> list[MetricMeta]:
        """The outbox's and the Alertmanager forwarder's families, for what is configured."""
        return [*(self.outbox.metrics() if self.outbox else ()), *(self.forwarder.metrics() if self.forwarder else ())]

    def samples(self) -> list[Sample]:
        """The outbox's and the forwarder's current values as samples."""
        return [*(self.outbox.samples() if self.outbox else []), *(self.forwarder.samples() if self.forwarder else [])]

    async def close(self) -> None:
        """Close the integrations' senders, the outbox and the forwarder."""
        if self.outbox is not None:
            await _close_senders(self.integrations)
            self.outbox.close()
        if self.forwarder is not None:
            await self.forwarder.aclose()


def _integrations(config: Config, external_url: str) -> Integrations:
    """Every receiver's integrations, with the config's templates (none, and nothing imported, without receivers)."""
    if not config.receivers:
        return {}
    from agent.notify.integrations.registry import build_senders
    from agent.notify.template import TemplateError, load_templates

    try:  # checked by config_errors already; a file changed since then is refused the same way
        templates = load_templates(config.templates)
    except TemplateError as exc:
        raise ConfigError([f"templates: {exc}"]) from exc
    return build_senders(config.receivers, external_url=external_url, templates=templates)


async def _close_senders(integrations: Integrations) -> None:
    if integrations:
        from agent.notify.integrations.registry import close_senders

        await close_senders(integrations)


@dataclass
class NewParts:
    """What `Notifications.prepare` opened for a reload, waiting for `apply` (or `discard`)."""

    integrations: Integrations
    silences: Silences | None = None
    outbox: Outbox | None = None
    notify_log: NotifyLog | None = None
    forwarder: AlertmanagerForwarder | None = None
    replace_forwarder: bool = False

    async def discard(self) -> None:
        """Close what was opened: the reload was refused."""
        self.close_stores()
        await _close_senders(self.integrations)
        if self.forwarder is not None:
            await self.forwarder.aclose()

    def close_stores(self) -> None:
        """Close the silence, outbox and notification-log databases that were opened."""
        for part in (self.silences, self.notify_log, self.outbox):  # the log writes on the outbox's thread
            if part is not None:
                part.close()


class SilencesApi:
    """The web layer's SilenceApi over Silences, in Alertmanager's API v2 shapes."""

    def __init__(self, silences: Silences) -> None:
        self._silences = silences

    def list_json(self) -> list[dict[str, Any]]:
        """Every silence, in Alertmanager's GettableSilence shape."""
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
        """End a silence now; SilenceError when it is unknown or already over."""
        self._silences.expire(silence_id)
