"""The Prometheus HTTP API over the agent's engine and store: what Grafana and the Prometheus UI call.

Each handler parses its parameters with agent/web/params.py, asks the engine or the queryable
storage role, and answers in Prometheus 2.42's JSON and error shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from agent.model import Labels, MetricMeta, MetricType
from agent.promql import Engine, EvalError, PromQLError, parse_expr
from agent.promql.selectors import Selector
from agent.promql.values import LABEL_NAME, NAME
from agent.steps import run_between_tasks
from agent.store import Queryable, SeriesView
from agent.web.api import api_error, encode_matrix, encode_result, engine_for, success
from agent.web.params import ParamError, check_timeout, match_params, range_params, time_param, to_ms
from agent.web.server import Handler, Request, Response

JsonView = Callable[[], Any]
LABEL_VALUES = "/api/v1/label/{name}/values"


@dataclass(frozen=True)
class StatusViews:
    """What /api/v1/targets and /api/v1/status/* show; the runtime fills them in."""

    targets: JsonView = lambda: {"activeTargets": [], "droppedTargets": []}
    buildinfo: JsonView = lambda: {}
    flags: JsonView = lambda: {}
    config_yaml: Callable[[], str] = lambda: ""
    runtimeinfo: JsonView = lambda: {}


def _bad(exc: Exception) -> Response:
    return api_error("bad_data", str(exc))


def _query_error(exc: Exception) -> Response:
    if isinstance(exc, PromQLError):
        return api_error("bad_data", f'invalid parameter "query": {exc}')
    return api_error("execution", str(exc))


def query_routes(engine: Engine, now: Callable[[], float]) -> dict[tuple[str, str], Handler]:
    """/api/v1/query, query_range and query_exemplars, GET and POST (a form body carries long queries)."""

    async def query(request: Request) -> Response:
        try:
            t_ns = time_param(request, "time", int(now() * 1000) * 1_000_000)
            check_timeout(request)
            chosen = engine_for(engine, request.arg("promql_compat"))
        except ValueError as exc:  # ParamError is one
            return _bad(exc)
        assert t_ns is not None
        t_ms = to_ms(t_ns)
        try:
            value = chosen.instant(parse_expr(request.arg("query"), chosen.semantics), t_ms)
        except (PromQLError, EvalError) as exc:
            return _query_error(exc)
        return success(encode_result(value, t_ms))

    async def query_range(request: Request) -> Response:
        try:
            span = range_params(request)
            chosen = engine_for(engine, request.arg("promql_compat"))
        except ValueError as exc:
            return _bad(exc)
        try:
            # step() and range() in duration expressions are this query's, as in Prometheus.
            expr = parse_expr(
                request.arg("query"), chosen.semantics, step_ms=span.step_ms, range_ms=span.end_ms - span.start_ms
            )
        except PromQLError as exc:
            return _query_error(exc)
        try:
            steps = chosen.range_steps(expr, span.start_ms, span.end_ms, max(span.step_ms, 1))
            matrix = await run_between_tasks(steps)  # scrapes and rules run between two steps
        except PromQLError as exc:  # not a vector or scalar: Prometheus says so without naming the parameter
            return _bad(exc)
        except EvalError as exc:
            return _query_error(exc)
        return success(encode_matrix(matrix))

    async def query_exemplars(request: Request) -> Response:
        try:
            time_param(request, "start", None)
            time_param(request, "end", None)
            parse_expr(request.arg("query"), engine.semantics)
        except ParamError as exc:
            return _bad(exc)
        except PromQLError as exc:
            return _query_error(exc)
        return success([])  # the agent keeps no exemplars

    return {
        ("GET", "/api/v1/query_exemplars"): query_exemplars,
        ("POST", "/api/v1/query_exemplars"): query_exemplars,
        ("GET", "/api/v1/query"): query,
        ("POST", "/api/v1/query"): query,
        ("GET", "/api/v1/query_range"): query_range,
        ("POST", "/api/v1/query_range"): query_range,
    }


@dataclass(frozen=True)
class SeriesWindow:
    """Which series a metadata request asks about: its selectors and time bounds (None: unbounded)."""

    selectors: list[Selector]
    start_ms: int | None
    end_ms: int | None

    def series(self, store: Queryable) -> Iterator[SeriesView]:
        """Every series a selector matches (every series without selectors) with a point in the bounds."""
        chosen: Iterable[SeriesView]
        if self.selectors:
            seen: dict[tuple[str, Labels], SeriesView] = {}
            for selector in self.selectors:
                seen.update(((s.name, s.labels), s) for s in selector.series(store))
            chosen = seen.values()
        else:
            chosen = (s for name in store.names() for s in store.family(name))
        return (s for s in chosen if self._has_points(s))

    def _has_points(self, series: SeriesView) -> bool:
        start = -(2**62) if self.start_ms is None else self.start_ms - 1
        end = 2**62 if self.end_ms is None else self.end_ms
        times, _ = series.window(start, end)
        return len(times) > 0


def _window(request: Request, engine: Engine, *, require_match: bool) -> SeriesWindow:
    if require_match and not request.query.get("match[]"):
        raise ParamError("no match[] parameter provided")
    start = time_param(request, "start", None)
    end = time_param(request, "end", None)
    selectors = match_params(request, engine.semantics)
    return SeriesWindow(selectors, None if start is None else to_ms(start), None if end is None else to_ms(end))


def _full(series: SeriesView) -> Labels:
    return tuple(sorted(((NAME, series.name), *series.labels)))


def series_routes(engine: Engine) -> dict[tuple[str, str], Handler]:
    """/api/v1/series, /api/v1/labels and /api/v1/label/<name>/values, read through the queryable role."""
    store = engine.store

    async def series(request: Request) -> Response:
        try:
            window = _window(request, engine, require_match=True)
        except ParamError as exc:
            return _bad(exc)
        found = sorted({_full(s) for s in window.series(store)})
        return success([dict(labels) for labels in found])

    async def labels(request: Request) -> Response:
        try:
            window = _window(request, engine, require_match=False)
        except ParamError as exc:
            return _bad(exc)
        found = list(window.series(store))
        names = {name for s in found for name, _ in s.labels}
        return success(sorted(names | {NAME}) if found else [])

    async def label_values(request: Request) -> Response:
        name = request.params["name"]
        if not LABEL_NAME.fullmatch(name):
            return api_error("bad_data", f'invalid label name: "{name}"')
        try:
            window = _window(request, engine, require_match=False)
        except ParamError as exc:
            return _bad(exc)
        values = {s.name if name == NAME else dict(s.labels).get(name, "") for s in window.series(store)}
        return success(sorted(values - {""}))

    return {
        ("GET", "/api/v1/series"): series,
        ("POST", "/api/v1/series"): series,
        ("GET", "/api/v1/labels"): labels,
        ("POST", "/api/v1/labels"): labels,
        ("GET", LABEL_VALUES): label_values,
    }


def metadata_routes(store: Queryable) -> dict[tuple[str, str], Handler]:
    """/api/v1/metadata: the HELP and TYPE the agent declared for its families (`limit`, `metric`)."""

    async def metadata(request: Request) -> Response:
        limit = -1
        if request.arg("limit"):
            try:
                limit = int(request.arg("limit"))
            except ValueError:
                return api_error("bad_data", "limit must be a number")
        wanted = request.arg("metric")
        found: dict[str, list[dict[str, str]]] = {}
        for name in sorted(store.names()):
            meta = _family_meta(store, name)
            if meta is None or (wanted and meta.name != wanted) or meta.name in found:
                continue
            if 0 <= limit <= len(found):
                break
            found[meta.name] = [{"type": _type_name(meta.type), "help": meta.help, "unit": ""}]
        return success(found)

    return {("GET", "/api/v1/metadata"): metadata}


def _family_meta(store: Queryable, name: str) -> MetricMeta | None:
    """The declaration of the family a series name belongs to (`x_bucket` is family `x`'s), if any."""
    for suffix in ("", "_bucket", "_sum", "_count", "_total", "_created"):
        if suffix and not name.endswith(suffix):
            continue
        meta = store.meta(name.removesuffix(suffix) if suffix else name)
        if meta.type is not MetricType.UNTYPED or meta.help:
            return meta
    return None


def _type_name(kind: MetricType) -> str:
    return "unknown" if kind is MetricType.UNTYPED else str(kind.value)


def status_routes(views: StatusViews) -> dict[tuple[str, str], Handler]:
    """/api/v1/targets and /api/v1/status/{buildinfo,flags,config,runtimeinfo}."""

    def view(read: JsonView) -> Handler:
        async def handler(_: Request) -> Response:
            return success(read())

        return handler

    async def targets(request: Request) -> Response:
        state = request.arg("state", "any").lower()
        data = views.targets()
        if state == "active":
            data = {**data, "droppedTargets": []}
        elif state == "dropped":
            data = {**data, "activeTargets": []}
        return success(data)

    return {
        ("GET", "/api/v1/targets"): targets,
        ("GET", "/api/v1/status/buildinfo"): view(views.buildinfo),
        ("GET", "/api/v1/status/flags"): view(views.flags),
        ("GET", "/api/v1/status/config"): view(lambda: {"yaml": views.config_yaml()}),
        ("GET", "/api/v1/status/runtimeinfo"): view(views.runtimeinfo),
    }
