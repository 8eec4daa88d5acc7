"""The daemon: wires collectors, store, exporters and the HTTP server onto one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Any

import structlog

from agent.clock import Clock, SystemClock
from agent.collect.registry import build_collectors
from agent.collect.runner import Runner
from agent.config.schema import Config
from agent.export import Exposition
from agent.model import Sample, counter, gauge
from agent.store import Store
from agent.web.app import WebContext, build_routes
from agent.web.server import HttpServer

log = structlog.get_logger()

HOUSEKEEPING_SECONDS = 5.0
SHUTDOWN_SECONDS = 4.0

STORE_METRICS = (
    gauge("tripwired_store_series", "Series held in the in-memory store."),
    gauge("tripwired_store_series_limit", "The store's cap on the number of series (store.max_series)."),
    counter("tripwired_store_samples_refused_total", "Samples refused because the store was at its series cap."),
)


class ListenAddressError(ValueError):
    """A listen address that is not HOST:PORT."""


def parse_listen_address(address: str) -> tuple[str, int]:
    """`HOST:PORT` or `[V6]:PORT` -> (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ListenAddressError(f"listen address {address!r} is not HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


class Daemon:
    """One running agent. `run()` returns the process exit code."""

    def __init__(self, config: Config, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.store = Store(max_series=config.store.max_series)
        self.store.declare(STORE_METRICS)
        self.runner = Runner(self.store, self.clock)
        for job in build_collectors(config, self.clock):
            self.runner.add(job)
        self.exposition = Exposition(self.store)
        self.stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def run(self) -> int:
        server = HttpServer(build_routes(WebContext(self.exposition, self.runner.ready.is_set)))
        host, port = parse_listen_address(self.config.web.listen_address)
        try:
            bound = await server.start(host, port)
        except OSError as exc:
            log.error("listen_failed", address=self.config.web.listen_address, error=exc.strerror)
            return 1
        log.info("started", listen_address=f"{bound[0]}:{bound[1]}", collectors=len(self.runner.states))
        self._install_signal_handlers()
        self._spawn(self.runner.run(self.stop))
        self._spawn(self._housekeeping())
        self._spawn_textfile_watch()
        await self.stop.wait()
        log.info("stopping")
        await self._shutdown(server)
        log.info("stopped")
        return 0

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
            self.store.write("self:store", self._store_samples(), now_ms)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=HOUSEKEEPING_SECONDS)

    def _store_samples(self) -> list[Sample]:
        return [
            Sample("tripwired_store_series", (), float(self.store.series_count)),
            Sample("tripwired_store_series_limit", (), float(self.store.max_series)),
            Sample("tripwired_store_samples_refused_total", (), float(self.store.refused_total)),
        ]

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop_signal, sig)

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        log.info("signal_received", signal=sig.name)
        self.stop.set()

    async def _shutdown(self, server: HttpServer) -> None:
        self.stop.set()
        await server.close()
        _, pending = await asyncio.wait(self._tasks, timeout=SHUTDOWN_SECONDS)
        for task in pending:
            task.cancel()
