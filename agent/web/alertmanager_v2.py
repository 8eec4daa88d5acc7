"""Alertmanager's API v2 (/api/v2/...): what amtool and a Prometheus sending alerts speak.

The paths, parameters and JSON are Alertmanager 0.25's (api/v2/openapi.yaml): alerts to list and
post, alert groups, silences, receivers and status. Errors are Alertmanager's too: a JSON string
with status 400 (bad request) or 404 (no such silence). The runtime implements `AlertmanagerApi`
over the same dispatcher and silence store the rest of the daemon uses, so a silence made with
amtool, the /api/v1 silences endpoints or `tripwired silence` is one silence.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from agent.web.server import Handler, Request, Response

JSON = "application/json"


@dataclass(frozen=True)
class AlertQuery:
    """The filters of GET /api/v2/alerts and /api/v2/alerts/groups."""

    filter: tuple[str, ...] = ()  # matchers such as alertname="DiskFull"; all must match
    receiver: str = ""  # a regex the receiver's name must fully match; empty for all
    active: bool = True
    silenced: bool = True
    inhibited: bool = True
    unprocessed: bool = True


class AlertmanagerApi(Protocol):
    """What the v2 endpoints ask of the runtime; ValueError for a bad request, KeyError for no such id."""

    def alerts(self, query: AlertQuery) -> list[dict[str, Any]]:
        """Gettable alerts (labels, annotations, times, receivers, status), ordered by fingerprint."""
        ...

    def alert_groups(self, query: AlertQuery) -> list[dict[str, Any]]:
        """Alert groups: their labels, receiver and the alerts of `alerts` in them."""
        ...

    def post_alerts(self, alerts: list[Any]) -> list[str]:
        """Take postable alerts; the problems of those refused (the others are taken)."""
        ...

    def silences(self, filters: tuple[str, ...]) -> list[dict[str, Any]]:
        """Gettable silences whose matchers cover every filter matcher."""
        ...

    def silence(self, silence_id: str) -> dict[str, Any]:
        """One gettable silence; KeyError if there is none with that id."""
        ...

    def post_silence(self, body: dict[str, Any]) -> str:
        """Create, or with an `id` replace, a silence; its id."""
        ...

    def expire_silence(self, silence_id: str) -> None:
        """Expire a silence now; KeyError if there is none with that id."""
        ...

    def receivers(self) -> list[dict[str, Any]]:
        """The configured receivers' names."""
        ...

    def status(self) -> dict[str, Any]:
        """Cluster (always "disabled": one agent is its own cluster), config, uptime, version."""
        ...


def alertmanager_routes(api: AlertmanagerApi) -> dict[tuple[str, str], Handler]:
    """The /api/v2 routes over `api`."""

    async def get_alerts(request: Request) -> Response:
        return _answer(lambda: api.alerts(_alert_query(request)))

    async def get_groups(request: Request) -> Response:
        return _answer(lambda: api.alert_groups(_alert_query(request)))

    async def post_alerts(request: Request) -> Response:
        try:
            body = json.loads(request.body or b"null")
        except ValueError as exc:
            return _json(400, f"parsing alerts: {exc}")
        if not isinstance(body, list):
            return _json(400, "expected a JSON array of alerts")
        problems = api.post_alerts(body)
        return _json(400, "; ".join(problems)) if problems else Response(200, b"", JSON)

    async def get_silences(request: Request) -> Response:
        return _answer(lambda: api.silences(tuple(request.query.get("filter", []))))

    async def get_silence(request: Request) -> Response:
        return _answer(lambda: api.silence(request.params["id"]))

    async def post_silence(request: Request) -> Response:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError as exc:
            return _json(400, f"parsing silence: {exc}")
        if not isinstance(body, dict):
            return _json(400, "expected a JSON object")
        return _answer(lambda: {"silenceID": api.post_silence(body)})

    async def delete_silence(request: Request) -> Response:
        def expire() -> None:
            api.expire_silence(request.params["id"])

        return _answer(expire)

    async def receivers(_: Request) -> Response:
        return _answer(api.receivers)

    async def status(_: Request) -> Response:
        return _answer(api.status)

    return {
        ("GET", "/api/v2/alerts"): get_alerts,
        ("POST", "/api/v2/alerts"): post_alerts,
        ("GET", "/api/v2/alerts/groups"): get_groups,
        ("GET", "/api/v2/silences"): get_silences,
        ("POST", "/api/v2/silences"): post_silence,
        ("GET", "/api/v2/silence/{id}"): get_silence,
        ("DELETE", "/api/v2/silence/{id}"): delete_silence,
        ("GET", "/api/v2/receivers"): receivers,
        ("GET", "/api/v2/status"): status,
    }


def _alert_query(request: Request) -> AlertQuery:
    """The query's filters; ValueError (a 400) for a flag that is not true or false."""
    return AlertQuery(
        filter=tuple(request.query.get("filter", [])),
        receiver=request.arg("receiver"),
        active=_flag(request, "active"),
        silenced=_flag(request, "silenced"),
        inhibited=_flag(request, "inhibited"),
        unprocessed=_flag(request, "unprocessed"),
    )


def _flag(request: Request, name: str) -> bool:
    value = request.arg(name, "true").lower()
    if value not in ("true", "false"):
        raise ValueError(f"{name} must be true or false, not {value!r}")
    return value == "true"


def _answer(produce: Callable[[], object]) -> Response:
    """200 with `produce()` as JSON (empty for None); 400 for ValueError, 404 for KeyError."""
    try:
        result = produce()
    except KeyError as exc:
        return _json(404, str(exc.args[0]) if exc.args else "not found")
    except ValueError as exc:
        return _json(400, str(exc))
    return Response(200, b"" if result is None else json.dumps(result).encode(), JSON)


def _json(status: int, message: str) -> Response:
    return Response(status, json.dumps(message).encode(), JSON)
