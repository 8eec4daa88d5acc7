"""The agent's HTTP endpoints: /metrics, health, readiness, reload and the /api/v1 queries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agent.export import CONTENT_TYPE, Exposition
from agent.promql import Engine
from agent.web.api import query_handler, success
from agent.web.server import Handler, Request, Response, text

ReloadFunc = Callable[[], Awaitable[str | None]]  # returns an error message, or None on success
JsonView = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class WebContext:
    """What the endpoints read; the runtime hands it over, the web layer never builds parts."""

    exposition: Exposition
    engine: Engine
    now: Callable[[], float]
    is_ready: Callable[[], bool]
    reload: ReloadFunc
    rules: JsonView
    alerts: JsonView


def build_routes(ctx: WebContext) -> dict[tuple[str, str], Handler]:
    async def metrics(_: Request) -> Response:
        return Response(200, ctx.exposition.render(), CONTENT_TYPE)

    async def healthy(_: Request) -> Response:
        return text(200, "tripwired is Healthy.\n")

    async def ready(_: Request) -> Response:
        if ctx.is_ready():
            return text(200, "tripwired is Ready.\n")
        return text(503, "Service Unavailable: first collection not finished.\n")

    async def reload(_: Request) -> Response:
        error = await ctx.reload()
        return text(500, f"failed to reload config: {error}\n") if error else text(200, "")

    async def rules(_: Request) -> Response:
        return success(ctx.rules())

    async def alerts(_: Request) -> Response:
        return success(ctx.alerts())

    query = query_handler(ctx.engine, ctx.now)
    return {
        ("GET", "/metrics"): metrics,
        ("GET", "/-/healthy"): healthy,
        ("GET", "/-/ready"): ready,
        ("POST", "/-/reload"): reload,
        ("PUT", "/-/reload"): reload,
        ("GET", "/api/v1/query"): query,
        ("POST", "/api/v1/query"): query,
        ("GET", "/api/v1/rules"): rules,
        ("GET", "/api/v1/alerts"): alerts,
    }
