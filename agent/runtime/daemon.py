"""The daemon: wires collectors, store, rules, exporters and the HTTP server onto one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import platform
import secrets
import signal
import socket
import sqlite3
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog

from agent import __version__
from agent.clock import Clock, SystemClock
from agent.collect.base import Seedable
from agent.collect.registry import build_collectors
from agent.collect.runner import Runner
from agent.config import ConfigError, load_config
from agent.config.schema import Config
from agent.export import Exposition
from agent.export.statsd import StatsdConfigError, StatsdExporter
from agent.memory import freeze_start_up_objects
from agent.model import AlertState, Sample, counter, gauge, labels_of
from agent.packs import builtin_path, is_builtin
from agent.promql import Engine, Semantics, max_range_ms, semantics_of
from agent.remote import RemoteWrite
from agent.ruler.alerting import RestorePolicy
from agent.ruler.manager import RuleLoadError, RuleManager
from agent.ruler.rules import ExternalInfo
from agent.ruler.state import AlertStateStore
from agent.runtime.api_views import buildinfo_json, config_yaml, flags_json, runtimeinfo_json, targets_json
from agent.runtime.history import seeding_history
from agent.runtime.notifications import NewParts, Notifications, SilencesApi
from agent.runtime.sdnotify import SdNotifier, notify_lifecycle
from agent.runtime.status_source import RuntimeStatusSource
from agent.runtime.storage import DurableStorage, StorageError
from agent.runtime.validate import config_errors
from agent.runtime.views import alerts_json, rules_json
from agent.runtime.web_setup import WebSetup, build_web_setup, secure_routes
from agent.statedb import StateError
from agent.store import LOOKBACK_MS, Store
from agent.web.app import WebContext, build_routes
from agent.web.graph import graph_routes
from agent.web.promapi import StatusViews
from agent.web.server import Handler, HttpServer
from agent.web.status import status_routes

log = structlog.get_logger()

HOUSEKEEPING_SECONDS = 5.0
# How long a collector's thread waits for the loop to read it the stored history (a busy loop
# answers in milliseconds; a stopping one never, and the collector then runs unseeded).
SHUTDOWN_SECONDS = 4.0
MIN_RETENTION_MS = 2 * LOOKBACK_MS

STORE_METRICS = (
    gauge("tripwired_store_series", "Series held in the in-memory store."),
    gauge("tripwired_store_series_limit", "The store's cap on the number of series (store.max_series)."),
    counter("tripwired_store_samples_refused_total", "Samples refused because the store was at its series cap."),
    gauge("tripwired_config_last_reload_successful", "Whether the last configuration reload attempt succeeded."),
    gauge("tripwired_config_last_reload_success_timestamp_seconds", "When the configuration was last loaded."),
    gauge("tripwired_build_info", "A metric with a constant '1' value labeled by version and pythonversion."),
)
# As every Prometheus exporter's build_info, with the interpreter in place of goversion.
BUILD_INFO = labels_of(version=__version__, pythonversion=platform.python_version())


class StartupError(Exception):
    """The daemon cannot start as configured; `errors` says why, one line each."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)


def _reason(exc: Exception) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def _web_setup(config: Config) -> WebSetup:
    try:
        return build_web_setup(config.web)
    except ConfigError as exc:
        raise StartupError(exc.errors) from exc


class ListenAddressError(ValueError):
    """A listen address that is not HOST:PORT."""


def parse_listen_address(address: str) -> tuple[str, int]:
    """`HOST:PORT` or `[V6]:PORT` -> (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ListenAddressError(f"listen address {address!r} is not HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def rule_paths(config: Config, config_path: str | None) -> list[str]:
    """Rule-file globs: `builtin:NAME` the shipped pack, relative ones from the config file's directory as
    Prometheus does."""
    base = Path(config_path).parent if config_path else Path.cwd()
    return [_rule_path(pattern, base) for pattern in config.rule_files]


def _rule_path(pattern: str, base: Path) -> str:
    if is_builtin(pattern):
        return builtin_path(pattern)
    return pattern if Path(pattern).is_absolute() else str(base / pattern)


def external_url(config: Config) -> str:
    """Where people reach this agent: the configured URL, else one that reaches the listener.

    Listening on every interface, that is the host's name (Prometheus' default); listening on one
    address (the loopback default), it is that address: the host name may resolve to another one
    (Debian maps it to 127.0.1.1), and a link in a page would then not open. A route prefix given
    on its own is part of it.
    """
    if config.web.external_url:
        return config.web.external_url
    host, port = parse_listen_address(config.web.listen_address)
    scheme = "https" if config.web.tls_server_config else "http"
    if host in ("0.0.0.0", "::"):
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}{_normalized_prefix(config.web.route_prefix or '')}"


def route_prefix(config: Config) -> str:
    """The path every endpoint is served under: web.route_prefix, else external_url's path ("" for /)."""
    chosen = config.web.route_prefix if config.web.route_prefix is not None else urlsplit(external_url(config)).path
    return _normalized_prefix(chosen)


def _normalized_prefix(path: str) -> str:
    """`/tripwired` for `tripwired/`, `/tripwired` or `/tripwired/`; "" for the root."""
    return "/" + path.strip("/") if path.strip("/") else ""


class Daemon:
    """One running agent. Construction validates and loads everything; `run()` returns the exit code."""

    def __init__(
        self,
        config: Config,
        *,
        config_path: str | None = None,
        clock: Clock | None = None,
        notifier: SdNotifier | None = None,
        overrides: Callable[[Config], Config] = lambda config: config,
    ) -> None:
        self.config = config
        self._overrides = overrides  # command-line flags, applied again to a reloaded file
        self.notifier = notifier or SdNotifier.from_env()  # a no-op outside systemd
        self.config_path = config_path
        self.clock = clock or SystemClock()
        self.started_at = self.clock.time()
        problems = config_errors(config, config_path or "<built-in config>")
        if problems:
            raise StartupError(problems)
        self.web = _web_setup(config)
        self._page_secret = secrets.token_bytes(32)  # the status page's CSRF tokens outlive a reload
        self.server: HttpServer | None = None
        self.store = Store(max_series=config.store.max_series)
        self.store.declare(STORE_METRICS)
        self.storage = self._storage(config)
        self.store.declare(self.storage.metrics())
        self.remote = self._remote_write(config)
        self.store.declare(self.remote.metrics())
        self.semantics = config_semantics(config)
        self.engine = Engine(self.store, semantics=self.semantics)
        self.notifications = self._notifications(config)
        self.store.declare(self.notifications.metrics())
        self.ruler = RuleManager(
            store=self.store,
            clock=self.clock,
            notify=self.notifications.notify,
            engine=self.engine,
            semantics=self.semantics,
            evaluation_interval_s=float(config.global_.evaluation_interval),
            external_labels=config.global_.external_labels,
            external_url=external_url(config),
            state=self._state_store(config),
            restore_policy=RestorePolicy(
                outage_tolerance_ms=int(config.rules.for_outage_tolerance * 1000),
                grace_period_ms=int(config.rules.for_grace_period * 1000),
            ),
        )
        self._load_rules(config)
        self.runner = self._new_runner(config)
        self.exposition = Exposition(self.store)
        self.statsd = self._statsd(config)
        self._hide_targets()
        self.stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._runner_stop = asyncio.Event()
        self._runner_task: asyncio.Task[None] | None = None
        self._reload_ok = True
        self._reload_at = self.clock.time()

    # -- building ----------------------------------------------------------------

    def _storage(self, config: Config) -> DurableStorage:
        """Lock the state directory and replay the WAL, before anything else opens a file there."""
        storage = DurableStorage(config, self.store)
        try:
            storage.open()
        except StorageError as exc:
            raise StartupError([str(exc)]) from exc
        return storage

    def _remote_write(self, config: Config) -> RemoteWrite:
        """The remote_write queues; built before the first checkpoint, which must keep what they have not sent."""
        return RemoteWrite(
            config.remote_write,
            self.storage.wal,
            Path(config.state_dir),
            external_labels=config.global_.external_labels,
            retention_seconds=float(config.store.wal.remote_write_retention),
        )

    def _state_store(self, config: Config) -> AlertStateStore | None:
        if not config.rule_files:
            return None  # nothing to persist: the default agent never touches the disk
        try:
            return AlertStateStore(config.state_dir)
        except (OSError, sqlite3.Error, StateError) as exc:
            raise StartupError([f"state_dir {config.state_dir}: {_reason(exc)}"]) from exc

    def _load_rules(self, config: Config) -> None:
        try:
            self.ruler.load(rule_paths(config, self.config_path))
        except RuleLoadError as exc:
            raise StartupError(list(exc.errors)) from exc
        self._fit_retention()

    def _fit_retention(self) -> None:
        """Keep `store.retention`, or as much history as the widest range any rule reads plus the lookback."""
        if self.config.store.retention is not None:
            self.store.retention_ms = int(self.config.store.retention * 1000)
            return
        widest = max((max_range_ms(rule.expr) for g in self.ruler.groups() for rule in g.rules), default=0)
        self.store.retention_ms = max(MIN_RETENTION_MS, widest + LOOKBACK_MS)

    def _statsd(self, config: Config) -> StatsdExporter | None:
        if config.statsd is None:
            return None
        try:
            return StatsdExporter(config.statsd, self.store, default_interval=float(config.global_.interval))
        except StatsdConfigError as exc:
            raise StartupError(exc.errors) from exc

    def _new_runner(self, config: Config) -> Runner:
        runner = Runner(self.store, self.clock, on_collected=self.ruler.trigger)
        history = seeding_history(self.store)
        for job in build_collectors(config, self.clock):
            if isinstance(job.collector, Seedable):
                # What it remembers (a partition's end offsets, for lag in seconds) comes back from
                # the history the WAL replayed, instead of starting at the restart; an isolated
                # collector reads it again for each child it starts after a crash.
                job.collector.seed(history)
            runner.add(job)
        return runner

    def _notifications(self, config: Config) -> Notifications:
        try:
            return Notifications(config, self.clock, external_url(config))
        except (OSError, sqlite3.Error, StateError) as exc:
            raise StartupError([f"state_dir {config.state_dir}: {_reason(exc)}"]) from exc

    # -- running -----------------------------------------------------------------

    async def run(self) -> int:
        """Serve until stopped: listen, collect, evaluate, notify; returns the exit status (1 when it cannot listen)."""
        server = self.server = HttpServer(self._routes(), self.web.limits, tls=lambda: self.web.tls)
        server.prefix = route_prefix(self.config)
        host, port = parse_listen_address(self.config.web.listen_address)
        try:
            bound = await server.start(host, port)
        except OSError as exc:
            log.error("listen_failed", address=self.config.web.listen_address, error=exc.strerror)
            return 1
        log.info(
            "started",
            listen_address=f"{bound[0]}:{bound[1]}",
            collectors=len(self.runner.states),
            rule_groups=len(self.ruler.groups()),
        )
        self._install_signal_handlers()
        freeze_start_up_objects()
        self._start_runner()
        # READY=1 after the first collection, STATUS=, WATCHDOG=1 from this loop, STOPPING=1 at stop.
        self._spawn(
            notify_lifecycle(
                self.notifier, ready=self.runner.ready, stop=self.stop, describe=lambda: self._status(bound)
            )
        )
        self._spawn(self.run_ruler(self.stop))
        self._spawn(self._housekeeping())
        for task in self.notifications.tasks(self.stop):
            self._spawn(task)
        if self.statsd is not None:
            self._spawn(self.statsd.run(self.stop))
        for queue in self.remote.tasks(self.stop):
            self._spawn(queue)
        self._spawn_textfile_watch()
        await self.stop.wait()
        log.info("stopping")
        await self._shutdown(server)
        log.info("stopped")
        return 0

    def _routes(self) -> dict[tuple[str, str], Handler]:
        status = RuntimeStatusSource(
            self.ruler,
            lambda: self.runner,
            self.notifications.silences,
            self.notifications.outbox,
            dispatcher=lambda: self.notifications.dispatcher,
        )
        root = route_prefix(self.config)
        page = status_routes(status, now=self.clock.time, secret=self._page_secret, root=root)
        graph = graph_routes(self.engine, self.clock.time, status.show_value, root)
        routes = {**build_routes(self._web_context()), **page, **graph, **self._alertmanager_routes()}
        return secure_routes(routes, self.web, external_url(self.config))

    def _alertmanager_routes(self) -> dict[tuple[str, str], Handler]:
        """Alertmanager's API v2, when there is a route to send alerts down."""
        dispatcher, silences = self.notifications.dispatcher, self.notifications.silences
        if dispatcher is None or silences is None:
            return {}
        from agent.runtime.alertmanager_api import AlertmanagerApi  # with a route only, as the dispatcher
        from agent.web.alertmanager_v2 import alertmanager_routes

        receivers = [r.name for r in self.config.receivers]
        api = AlertmanagerApi(
            dispatcher,
            silences,
            receivers,
            config_path=self.config_path,
            started_at=self.started_at,
            resolve_timeout=float(self.config.global_.resolve_timeout),
        )
        return alertmanager_routes(api)

    def _status(self, bound: tuple[str, int]) -> str:
        return (
            f"serving on {bound[0]}:{bound[1]}: {len(self.runner.states)} collectors, "
            f"{len(self.ruler.groups())} rule groups"
        )

    def _web_context(self) -> WebContext:
        return WebContext(
            exposition=self.exposition,
            engine=self.engine,
            now=self.clock.time,
            is_ready=self._is_ready,
            reload=self.reload,
            rules=lambda: rules_json(self.ruler),
            alerts=lambda: alerts_json(self.ruler),
            silences=SilencesApi(self.notifications.silences) if self.notifications.silences else None,
            lifecycle=self.config.web.enable_lifecycle,
            quit=self.stop.set,
            status=self._status_views(),
        )

    def _status_views(self) -> StatusViews:
        """/api/v1/targets and /api/v1/status/*, read when asked (a reload changes what they show)."""
        started = self.clock.time()
        return StatusViews(
            targets=lambda: targets_json(self.runner.states),
            buildinfo=buildinfo_json,
            flags=lambda: flags_json(self.config, self.config_path, external_url(self.config)),
            config_yaml=lambda: config_yaml(self.config),
            runtimeinfo=lambda: runtimeinfo_json(
                started, self._reload_ok, self._reload_at, self.store.retention_ms / 1000
            ),
        )

    async def run_ruler(self, stop: asyncio.Event) -> None:
        """Evaluate rules once the first collection is in: before it, every alert would look resolved."""
        ready = asyncio.create_task(self.runner.ready.wait())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        stopped.cancel()
        if not stop.is_set():
            await self.ruler.run(stop)

    def _is_ready(self) -> bool:
        return self.runner.ready.is_set()  # the runner is replaced when a reload changes collectors

    def _start_runner(self) -> None:
        self._runner_stop = asyncio.Event()
        self._runner_task = asyncio.create_task(self.runner.run(self._runner_stop))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.create_task(coro))

    def _spawn_textfile_watch(self) -> None:
        textfile = self.config.collectors.textfile
        if textfile.directory is None or not textfile.watch:
            return
        from agent.collect.textfile import watch_directory

        self._spawn(watch_directory(textfile.directory, lambda: self.runner.trigger("textfile"), self.stop))

    async def _housekeeping(self) -> None:
        while not self.stop.is_set():
            now_ms = int(self.clock.time() * 1000)
            self.store.compact(now_ms)
            self.store.write("self:store", self._self_samples(), now_ms)
            await self.storage.maintain(now_ms)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=HOUSEKEEPING_SECONDS)

    def _self_samples(self) -> list[Sample]:
        return [
            Sample("tripwired_store_series", (), float(self.store.series_count)),
            Sample("tripwired_store_series_limit", (), float(self.store.max_series)),
            Sample("tripwired_store_samples_refused_total", (), float(self.store.refused_total)),
            Sample("tripwired_config_last_reload_successful", (), 1.0 if self._reload_ok else 0.0),
            Sample("tripwired_config_last_reload_success_timestamp_seconds", (), self._reload_at),
            Sample("tripwired_build_info", BUILD_INFO, 1.0),
            *self.notifications.samples(),
            *self.storage.samples(),
            *self.remote.samples(),
        ]

    # -- reload ------------------------------------------------------------------

    async def reload(self) -> str | None:
        """Re-read the config file, the web config file and the rules, and apply all of them or none.

        Everything that can fail (parsing, validation, certificates, opening state) happens before
        anything changes; on failure the old config keeps running and the error is returned.
        """
        parts: NewParts | None = None
        try:
            config, web = self._reloaded_config()
            runner = self._new_runner(config) if config.collectors != self.config.collectors else None
            parts = self.notifications.prepare(config, external_url(config))
            self._configure_ruler(config)
            self.ruler.reload(rule_paths(config, self.config_path))
        except (ConfigError, RuleLoadError, OSError, sqlite3.Error, StateError) as exc:
            self._configure_ruler(self.config)
            if parts is not None:
                await parts.discard()
            return self._reload_refused(getattr(exc, "errors", None) or [f"state_dir: {_reason(exc)}"])
        await self._apply_reload(config, web, runner, parts)
        self.exposition.changed(None)  # /metrics renders afresh from the reloaded parts
        self._reload_ok, self._reload_at = True, self.clock.time()
        self.store.write("self:store", self._self_samples(), int(self._reload_at * 1000))
        log.info("reloaded", rule_groups=len(self.ruler.groups()))
        self.notifier.status(f"reloaded: {len(self.runner.states)} collectors, {len(self.ruler.groups())} rule groups")
        return None

    def _reloaded_config(self) -> tuple[Config, WebSetup]:
        """The config to reload to, checked and with its web settings built; ConfigError when unusable."""
        config = self._overrides(load_config(self.config_path)) if self.config_path else self.config
        problems = config_errors(config, self.config_path or "<built-in config>")
        if problems:
            raise ConfigError(problems)
        return config, build_web_setup(config.web)

    def _reload_refused(self, errors: Sequence[str]) -> str:
        self._reload_ok = False
        self.store.write("self:store", self._self_samples(), int(self.clock.time() * 1000))
        log.error("reload_failed", errors=list(errors))
        self.notifier.status(f"reload failed, previous config kept: {errors[0] if errors else 'unknown error'}")
        return "\n".join(errors)

    async def _apply_reload(self, config: Config, web: WebSetup, runner: Runner | None, parts: NewParts) -> None:
        """Switch to a checked config; nothing here fails on bad input."""
        self._fit_retention()
        if runner is not None:
            await self._restart_runner(runner)
        started = await self.notifications.apply(config, parts, self.stop)
        for loop in started:
            self._spawn(loop)
        if started:  # a new dispatcher or forwarder hears of what fires now, not at the next re-send
            self.notifications.notify([a for a in self.ruler.active_alerts() if a.state is AlertState.FIRING])
        for name, needs_restart in (
            ("listen_address", config.web.listen_address != self.config.web.listen_address),
            ("state_dir and store", (config.state_dir, config.store) != (self.config.state_dir, self.config.store)),
            ("statsd", config.statsd != self.config.statsd),
            (
                "remote_write and external_labels",
                (config.remote_write, config.global_.external_labels)
                != (self.config.remote_write, self.config.global_.external_labels),
            ),
            ("promql_compat", config_semantics(config) != self.semantics),
        ):
            if needs_restart:
                log.warning("reload_setting_needs_restart", setting=name, reason="it changes on restart only")
        self.config, self.web = config, web
        if self.server is not None:  # new requests see the new users and headers, new connections the new cert
            self.server.limits = web.limits
            self.server.routes = self._routes()
            self.server.prefix = route_prefix(config)

    def _hide_targets(self) -> None:
        """Tell the exporters (/metrics, StatsD) which labels are the collectors' target labels, to leave out."""
        targets = self.runner.targets()
        self.exposition.hide_targets(targets)
        if self.statsd is not None:
            self.statsd.hide_targets(targets)

    def _configure_ruler(self, config: Config) -> None:
        self.ruler.default_interval_ms = int(config.global_.evaluation_interval * 1000)
        self.ruler.external = ExternalInfo(tuple(sorted(config.global_.external_labels.items())), external_url(config))

    async def _restart_runner(self, runner: Runner) -> None:
        """Swap the collectors; series of collectors that are gone go stale."""
        old = self.runner
        self._runner_stop.set()
        if self._runner_task is not None:
            await self._runner_task
        self.runner = runner
        self._hide_targets()
        self.runner.ready.set()  # readiness is about the first collection after start, not after reload
        kept = {state.source for state in self.runner.states}
        now_ms = int(self.clock.time() * 1000)
        for state in old.states:
            if state.source not in kept:
                self.store.forget(state.source, now_ms)
                self.store.forget(f"self:{state.source}", now_ms)
        self._start_runner()

    # -- signals and shutdown ------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop_signal, sig)
        loop.add_signal_handler(signal.SIGHUP, self._on_reload_signal)

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        log.info("signal_received", signal=sig.name)
        self.stop.set()

    def _on_reload_signal(self) -> None:
        log.info("signal_received", signal="SIGHUP")
        self._spawn(self._reload_quietly())

    async def _reload_quietly(self) -> None:
        await self.reload()  # the outcome is logged and exported; a signal has nobody to answer

    async def _shutdown(self, server: HttpServer) -> None:
        self.stop.set()
        self._runner_stop.set()
        await server.close()
        tasks = [*self._tasks, *([self._runner_task] if self._runner_task else [])]
        _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_SECONDS)
        for task in pending:
            task.cancel()
        await self.notifications.close()
        # Last: every write above is in the log, and the checkpoint lets the next start skip the segments.
        await self.storage.close(int(self.clock.time() * 1000))


def config_semantics(config: Config) -> Semantics:
    """The PromQL semantics the config's `promql_compat` and experimental switch ask for."""
    return semantics_of(config.promql_compat.value, experimental_functions=config.promql_experimental_functions)
