"""The two sides of the Prometheus API oracle test: a backfilled Prometheus 2.42 and the agent's API.

Prometheus gets the samples by `promtool tsdb create-blocks-from openmetrics` before it starts.
The agent's side is its real HTTP server and routes, in process, over a store filled from the
same OpenMetrics file (a daemon only ingests what its collectors see now, not history).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from prometheus_client.openmetrics.parser import text_string_to_metric_families

from agent.model import Labels
from agent.promql import Engine, semantics_of
from agent.store import Store
from agent.web.promapi import StatusViews, metadata_routes, query_routes, series_routes, status_routes
from agent.web.server import Handler, HttpServer
from tests.conftest import free_port, require_binary
from tests.remote_receivers import ReceiverProcess
from tests.web.promapi_samples import T0

NOW = float(T0 + 4 * 3600)  # the agent's clock; Prometheus' is the real one, so corpus requests give times


def backfilled_prometheus(openmetrics: Path, base: Path) -> ReceiverProcess:
    """A started Prometheus 2.42 whose TSDB holds the file's samples (kept 100 years: they are old)."""
    data = base / "data"
    subprocess.run(
        [
            require_binary("promtool", "prometheus"),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(openmetrics),
            str(data),
        ],
        check=True,
        capture_output=True,
    )
    prometheus = ReceiverProcess("prometheus", data, extra_args=("--storage.tsdb.retention.time=100y",))
    prometheus.start()
    return prometheus


def loaded_store(openmetrics_text: str) -> Store:
    """A store holding every sample of an OpenMetrics text, at its own timestamps.

    Each distinct `name{labels}` is parsed by prometheus-client's OpenMetrics parser; the value and
    timestamp after it (neither has a space) are split off each line, which is 20 times faster
    than having the parser read 88,000 lines.
    """
    store = Store(retention_ms=10 * 365 * 86_400_000)
    heads: dict[str, tuple[str, Labels]] = {}
    for line in openmetrics_text.splitlines():
        if line.startswith("#"):
            continue
        head, value, timestamp = line.rsplit(" ", 2)
        if head not in heads:
            heads[head] = _series_of(head)
        seconds, _, millis = timestamp.partition(".")
        t_ms = int(seconds) * 1000 + int(millis.ljust(3, "0")[:3])
        assert store.append_point(*heads[head], t_ms, float(value))
    return store


def _series_of(head: str) -> tuple[str, Labels]:
    (family,) = text_string_to_metric_families(f"{head} 0\n# EOF\n")
    (sample,) = family.samples
    return sample.name, tuple(sorted(sample.labels.items()))


def agent_routes(store: Store, status: StatusViews | None = None) -> dict[tuple[str, str], Handler]:
    """The API routes as the daemon builds them, over `store`, with Prometheus 2.42's PromQL semantics."""
    engine = Engine(store, semantics=semantics_of(2))
    return {
        **query_routes(engine, lambda: NOW),
        **series_routes(engine),
        **metadata_routes(store),
        **status_routes(status or StatusViews()),
    }


@contextlib.contextmanager
def serving(routes: Mapping[tuple[str, str], Handler]) -> Iterator[str]:
    """The agent's HTTP server on a loopback port, on an event loop of its own thread; yields its URL."""
    loop = asyncio.new_event_loop()
    server = HttpServer(routes)
    port = free_port()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start("127.0.0.1", port))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def normalized(path: str, body: dict[str, Any], ordered: bool) -> dict[str, Any]:
    """A response with the parts Prometheus leaves unordered put in order (vectors, series lists)."""
    data = body.get("data")
    if isinstance(data, dict) and data.get("resultType") == "vector" and not ordered:
        data = {**data, "result": sorted(data["result"], key=lambda r: sorted(r["metric"].items()))}
    elif path.endswith("/series") and isinstance(data, list):
        data = sorted(data, key=lambda m: sorted(m.items()))
    return {**body, "data": data} if "data" in body else body
