"""The query page /graph in-process: Prometheus' parameters, the table, the graph's axes, errors."""

from __future__ import annotations

import asyncio
import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from agent.model import Sample, gauge, labels_of
from agent.promql import Engine
from agent.promql.units import Unit
from agent.ruler.alerting import generator_url
from agent.runtime.explain import show_value
from agent.store import Store
from agent.web.graph import graph_routes, nice_ticks, time_ticks
from agent.web.server import Request, Response

NOW = 1_800_000_000.0


def engine() -> Engine:
    store = Store()
    store.declare([gauge("disk_free_bytes", "test"), gauge("disk_size_bytes", "test")])
    for minutes_ago in range(60, -1, -1):
        t = NOW - minutes_ago * 60
        free = (10 + minutes_ago / 10) * 2**30
        store.write(
            "test",
            [
                Sample("disk_free_bytes", labels_of(path="/lake"), free),
                Sample("disk_size_bytes", labels_of(path="/lake"), 100 * 2**30),
            ],
            int(t * 1000),
        )
    return Engine(store)


def get(url: str) -> tuple[int, str]:
    routes = graph_routes(engine(), lambda: NOW, lambda value, unit: show_value(value, Unit(unit)))
    parts = urlsplit(url)
    request = Request("GET", parts.path, parse_qs(parts.query, keep_blank_values=True), {})
    response: Response = asyncio.run(routes[("GET", "/graph")](request))
    return response.status, response.body.decode()


def test_an_alerts_source_link_opens_its_expression_as_a_table() -> None:
    """The link Prometheus (and tripwired) put in every notification: g0.expr, g0.tab=1."""
    link = generator_url("http://127.0.0.1:9842", "disk_free_bytes / disk_size_bytes < 0.2")
    status, page = get(link.removeprefix("http://127.0.0.1:9842"))
    assert status == 200
    assert ">disk_free_bytes / disk_size_bytes &lt; 0.2</textarea>" in page
    assert re.search(r'<code>\{path=&#34;/lake&#34;\}</code></td><td class="value" title="0\.1">10%</td>', page)


def test_the_graph_has_a_value_axis_in_the_unit_and_a_time_axis() -> None:
    status, page = get("/graph?g0.expr=disk_free_bytes&g0.tab=0&g0.range_input=1h")
    assert status == 200
    y_ticks = re.findall(r'<text class="y-tick"[^>]*>([^<]+)</text>', page)
    x_ticks = re.findall(r'<text class="x-tick"[^>]*>([^<]+)</text>', page)
    assert y_ticks == ["10GiB", "12GiB", "14GiB", "16GiB"]
    assert x_ticks == ["07:00", "07:10", "07:20", "07:30", "07:40", "07:50", "08:00"]
    [points] = re.findall(r'<polyline class="series" points="([^"]+)"', page)
    assert len(points.split()) == 241  # 240 steps over the hour, both ends included
    assert 'disk_free_bytes{path=&#34;/lake&#34;}</code> <span class="value">10GiB</span>' in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("g0.expr=sum(&g0.tab=1", "parse error: unclosed left parenthesis"),
        ("g0.expr=disk_free_bytes[5m]&g0.tab=0", 'invalid expression type "range vector" for range query'),
        ("g0.expr=disk_free_bytes&g0.tab=0&g0.range_input=soon", "not a valid duration string"),
    ],
)
def test_bad_input_is_a_400_with_the_reason(query: str, message: str) -> None:
    status, page = get("/graph?" + query)
    assert status == 400
    error = re.search(r'<p class="banner error" role="alert" id="error">([^<]*)</p>', page)
    assert error is not None and message in html.unescape(error.group(1)), page


def test_an_empty_result_and_an_empty_form_say_so() -> None:
    assert "Empty query result." in get("/graph?g0.expr=nothing_here&g0.tab=1")[1]
    status, page = get("/graph")
    assert status == 200 and "<textarea" in page and "Empty query result" not in page


def test_ticks_are_round_numbers_and_round_times() -> None:
    assert nice_ticks(0.13, 0.87) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(1000, 1001) == [1000.0, 1000.5, 1001.0]
    assert nice_ticks(3 * 2**30, 7 * 2**30, 2**30) == [g * 2**30 for g in (3, 4, 5, 6, 7)]
    assert time_ticks(NOW - 3600, NOW) == [NOW - 3600 + 600 * i for i in range(7)]
