"""The query page at /graph: what every notification's "source" link opens.

Prometheus' rule manager links each alert to `/graph?g0.expr=EXPR&g0.tab=1`, and so does
tripwired (agent/ruler/alerting.py), so the page takes Prometheus' parameters: `g0.expr`, `g0.tab`
(1 for the table, 0 for the graph) and `g0.range_input` (`1h`). The table is an instant query now;
the graph evaluates the expression at 240 steps over the range and draws it as server-rendered
SVG with a value axis in the expression's unit and a time axis. Everything works without
JavaScript, and every value is put into the page by Jinja2's autoescaping.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

import promql_parser

from agent.export.exposition import format_value
from agent.gocompat.duration import parse_duration
from agent.model import Labels, labels_text
from agent.promql import Engine, EvalError, PromQLError, RangeSeries, VectorSample, parse_expr
from agent.promql.units import Unit, unit_of
from agent.web.pages import html_response, templates
from agent.web.server import Handler, Request, Response

ShowValue = Callable[[float, str], str]  # a value and a Unit value -> text for people
STEPS = 240  # points per series on the graph
MAX_SERIES = 20  # lines drawn; the legend says how many more there were
MAX_ROWS = 500  # rows of the table
DEFAULT_RANGE = "1h"
WIDTH, HEIGHT = 860, 300
LEFT, RIGHT, TOP, BOTTOM = 70, 10, 10, 24
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


@dataclass(frozen=True)
class Row:
    """One row of the table: a series' labels and its value (or a range's points)."""

    labels: str
    value: str
    raw: str  # the value as Prometheus' API writes it


@dataclass(frozen=True)
class Line:
    """One series on the graph."""

    labels: str
    colour: str
    points: str  # the SVG polyline's points
    last: str  # its last value, for the legend


@dataclass(frozen=True)
class Tick:
    """A labelled position on an axis (pixels)."""

    at: float
    text: str


@dataclass(frozen=True)
class Chart:
    """The graph: its lines, its axes and how many series were left out."""

    lines: tuple[Line, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    hidden: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom_y: int = HEIGHT - BOTTOM
    right_x: int = WIDTH - RIGHT


@dataclass(frozen=True)
class GraphPage:
    """What the page shows for one request."""

    expr: str
    tab: str  # "0" graph, "1" table
    range_input: str
    error: str = ""
    rows: tuple[Row, ...] = ()
    total_rows: int = 0
    chart: Chart | None = None
    unit: str = ""

    def link(self, tab: str) -> str:
        """This page's address with another tab (Prometheus' own parameter names)."""
        return "/graph?" + urlencode({"g0.expr": self.expr, "g0.tab": tab, "g0.range_input": self.range_input})


def graph_routes(
    engine: Engine, now: Callable[[], float], show: ShowValue, root: str = ""
) -> dict[tuple[str, str], Handler]:
    """GET /graph over the daemon's engine; `root` is the route prefix its links start with."""

    async def graph(request: Request) -> Response:
        page = build_page(engine, now(), show, request)
        body = templates().get_template("graph.html").render(page=page, now=now(), root=root)
        return html_response(400 if page.error else 200, body)

    return {("GET", "/graph"): graph}


def build_page(engine: Engine, now: float, show: ShowValue, request: Request) -> GraphPage:
    """Evaluate the request's expression for the chosen tab; errors become the page's message."""
    expr = request.arg("g0.expr").strip()
    tab = "0" if request.arg("g0.tab", "1") == "0" else "1"
    range_input = request.arg("g0.range_input", DEFAULT_RANGE) or DEFAULT_RANGE
    page = GraphPage(expr, tab, range_input)
    if not expr:
        return page
    try:
        parsed = parse_expr(expr, engine.semantics)
        unit = unit_of(parsed).value
        if tab == "1":
            return _table(page, engine.instant(parsed, int(now * 1000)), now, show, unit)
        span = parse_duration(range_input) / 1000
        if span <= 0:
            raise ValueError(f"the range must be positive, not {range_input!r}")
        series = sample_range(engine, parsed, now - span, now, max(span / STEPS, 1.0))
        return GraphPage(expr, tab, range_input, chart=draw(series, now - span, now, show, unit), unit=unit)
    except (PromQLError, EvalError, ValueError) as exc:
        return GraphPage(expr, tab, range_input, error=str(exc))


def _table(page: GraphPage, value: object, now: float, show: ShowValue, unit: str) -> GraphPage:
    if isinstance(value, str):
        rows = [Row("string", value, value)]
    elif isinstance(value, float | int):
        rows = [Row("scalar", show(float(value), unit), _raw(float(value)))]
    else:
        rows = []
        for series in value if isinstance(value, list) else []:
            if isinstance(series, VectorSample):
                rows.append(Row(labels_text(series.labels), show(series.value, unit), _raw(series.value)))
            elif isinstance(series, RangeSeries):
                points = " ".join(
                    f"{_raw(v)} @{t / 1000:.3f}" for t, v in zip(series.times, series.values, strict=True)
                )
                rows.append(Row(labels_text(series.labels), points, points))
    return GraphPage(
        page.expr, page.tab, page.range_input, rows=tuple(rows[:MAX_ROWS]), total_rows=len(rows), unit=unit
    )


def sample_range(
    engine: Engine, parsed: promql_parser.Expr, start: float, end: float, step: float
) -> dict[Labels, list[tuple[float, float]]]:
    """The expression's value at each step from start to end, by series: a range query's matrix."""
    series: dict[Labels, list[tuple[float, float]]] = {}
    t = start
    while t <= end + 1e-9:
        value = engine.instant(parsed, int(t * 1000))
        if isinstance(value, float | int):
            series.setdefault((), []).append((t, float(value)))
        elif isinstance(value, str) or any(isinstance(s, RangeSeries) for s in value):
            kind = "string" if isinstance(value, str) else "range vector"
            raise ValueError(f'invalid expression type "{kind}" for range query, must be Scalar or instant Vector')
        else:
            for sample in value:
                if isinstance(sample, VectorSample):
                    series.setdefault(sample.labels, []).append((t, sample.value))
        t += step
    return series


def draw(
    series: dict[Labels, list[tuple[float, float]]], start: float, end: float, show: ShowValue, unit: str
) -> Chart:
    """Lines, ticks and legend for the series, scaled into the chart's box."""
    shown = sorted(series.items())[:MAX_SERIES]
    values = [v for _, points in shown for _, v in points if math.isfinite(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if low == high:
        low, high = low - 1, high + 1
    ticks = nice_ticks(low, high, unit_scale(max(abs(low), abs(high)), unit))
    low, high = min(low, ticks[0]), max(high, ticks[-1])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - start) / (end - start or 1) * plot_w

    def y(v: float) -> float:
        return TOP + plot_h - (v - low) / (high - low) * plot_h

    lines = []
    for index, (labels, points) in enumerate(shown):
        drawn = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points if math.isfinite(v))
        last = show(points[-1][1], unit) if points else ""
        lines.append(Line(labels_text(labels), COLOURS[index % len(COLOURS)], drawn, last))
    y_ticks = tuple(Tick(y(v), show(v, unit)) for v in ticks)
    x_ticks = tuple(Tick(x(t), _clock(t, end - start)) for t in time_ticks(start, end))
    return Chart(tuple(lines), y_ticks, x_ticks, max(0, len(series) - MAX_SERIES))


def unit_scale(magnitude: float, unit: str) -> float:
    """The size of the unit values are counted in: GiB for gigabytes, hours for hours of seconds."""
    if unit in (Unit.BYTES.value, Unit.BYTES_PER_SECOND.value) and magnitude >= 1024:
        return float(1024 ** min(int(math.log(magnitude, 1024)), 8))
    if unit == Unit.SECONDS.value:
        return next((s for s in (86400.0, 3600.0, 60.0) if magnitude >= 2 * s), 1.0)
    return 1.0


def nice_ticks(low: float, high: float, scale: float = 1.0, count: int = 5) -> list[float]:
    """Round values covering [low, high] about `count` apart: 1, 2 or 5 times a power of ten of `scale`."""
    if scale != 1.0:
        return [t * scale for t in nice_ticks(low / scale, high / scale, 1.0, count)]
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks: list[float] = []
    value = first
    while not ticks or ticks[-1] < high - step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def time_ticks(start: float, end: float, count: int = 6) -> list[float]:
    """Times on round minutes or hours between start and end, about `count` of them."""
    span = end - start
    step = next(s for s in (60, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400, 604800) if s * count >= span)
    first = math.ceil(start / step) * step
    return [float(t) for t in range(int(first), int(end) + 1, step)]


def _clock(t: float, span: float) -> str:
    moment = datetime.fromtimestamp(t, UTC)
    return moment.strftime("%m-%d %H:%M" if span > 86400 else "%H:%M")


def _raw(value: float) -> str:
    return format_value(value)
