"""The status page rendered from a fake StatusSource: escaping, CSRF, the silence forms, the sections."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import httpx
import pytest

from agent.clock import FakeClock
from agent.export.exposition import format_value
from agent.model import labels_of
from agent.notify.silence import Silences
from agent.web.pages import format_duration
from agent.web.server import Handler, HttpServer, Request, Response
from agent.web.status import (
    ALERTS_PER_PAGE,
    CSRF_FIELD,
    AlertView,
    CollectorView,
    CsrfTokens,
    ExplainView,
    OutboxEntryView,
    RuleGroupView,
    RuleView,
    SilenceView,
    matcher_text,
    silence_seconds,
    status_routes,
)

NOW = 1_800_000_000.0
XSS = '<script>alert("pwned")</script>'
SECRET = b"test-secret"

FIRING = AlertView(
    name="WarehouseDiskFull",
    state="firing",
    labels=labels_of(alertname="WarehouseDiskFull", severity="critical", warehouse="lake", path="/data/lake"),
    annotations=labels_of(
        summary="Disk under /data/lake is 91.5% full",
        description="Over 85% for 5 minutes.",
        runbook_url="https://runbooks.example/disk",
    ),
    value=91.5,
    active_at=NOW - 330,
    expr="warehouse:filesystem_used:percent > 85",
)
PENDING = AlertView(
    name="KafkaConsumerLagging",
    state="pending",
    labels=labels_of(alertname="KafkaConsumerLagging", severity="warning", consumergroup="etl"),
    annotations=(),
    value=12000.0,
    active_at=NOW - 60,
    expr="kafka_consumergroup_lag_sum > 10000",
)


@dataclass
class FakeSource:
    """A StatusSource with canned data; records what the forms ask for."""

    alert_list: list[AlertView] = field(default_factory=lambda: [FIRING, PENDING])
    groups: list[RuleGroupView] = field(default_factory=list)
    collector_list: list[CollectorView] = field(default_factory=list)
    pending: list[OutboxEntryView] = field(default_factory=list)
    dead: list[OutboxEntryView] = field(default_factory=list)
    silence_list: list[SilenceView] = field(default_factory=list)
    added: list[tuple[list[str], float, float, str, str]] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)

    def alerts(self) -> Sequence[AlertView]:
        return self.alert_list

    def rule_groups(self) -> Sequence[RuleGroupView]:
        return self.groups

    def collectors(self) -> Sequence[CollectorView]:
        return self.collector_list

    def outbox_pending(self) -> Sequence[OutboxEntryView]:
        return self.pending

    def dead_letters(self) -> Sequence[OutboxEntryView]:
        return self.dead

    def silences(self) -> Sequence[SilenceView]:
        return self.silence_list

    def add_silence(
        self, matchers: Sequence[str], starts_at: float, ends_at: float, created_by: str, comment: str
    ) -> str:
        if not matchers:
            raise ValueError("at least one matcher required")
        self.added.append((list(matchers), starts_at, ends_at, created_by, comment))
        silence_id = f"s{len(self.added)}"
        self.silence_list.append(
            SilenceView(silence_id, tuple(matchers), starts_at, ends_at, created_by, comment, "active")
        )
        return silence_id

    def expire_silence(self, silence_id: str) -> None:
        if silence_id not in {s.id for s in self.silence_list}:
            raise ValueError(f"silence {silence_id} not found")
        self.expired.append(silence_id)

    def explain(self, group: str, rule: int) -> ExplainView | None:
        return None  # the explain view is tested over the real source (test_explain.py)

    def show_value(self, value: float, unit: str) -> str:
        return format_value(value) + (f" {unit}" if unit else "")


@dataclass
class PageScan(HTMLParser):
    """The page as a browser's parser reads it: the script elements, texts by element, attributes."""

    scripts: list[dict[str, str | None]] = field(default_factory=list)
    texts: list[tuple[str, str, str]] = field(default_factory=list)  # (tag, class, text)
    attributes: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    open_tags: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    @classmethod
    def of(cls, html_text: str) -> PageScan:
        scan = cls()
        scan.feed(html_text)
        return scan

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.attributes.append((tag, attributes))
        if tag == "script":
            self.scripts.append(attributes)
        if tag not in ("input", "meta", "link", "br"):
            self.open_tags.append((tag, attributes.get("class") or ""))

    def handle_endtag(self, tag: str) -> None:
        while self.open_tags and self.open_tags.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self.open_tags:
            self.texts.append((*self.open_tags[-1], data))

    def texts_of(self, tag: str, css: str | None = None) -> list[str]:
        return [text for t, c, text in self.texts if t == tag and (css is None or css in c.split())]

    def attribute(self, tag: str, name: str) -> str | None:
        return next(attrs[name] for t, attrs in self.attributes if t == tag and name in attrs)


def call(
    routes: dict[tuple[str, str], Handler],
    method: str,
    path: str,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    path, _, query_text = path.partition("?")
    query = parse_qs(query_text, keep_blank_values=True)
    body = urlencode(form or {}).encode()
    query.update(parse_qs(body.decode(), keep_blank_values=True))
    request = Request(method, path, query, {"host": "status.test", **(headers or {})}, body)

    async def handle() -> Response:
        return await routes[(method, path)](request)

    return asyncio.run(handle())


def routes_for(source: FakeSource, now: float = NOW) -> dict[tuple[str, str], Handler]:
    return status_routes(source, now=lambda: now, secret=SECRET)


def page(source: FakeSource) -> str:
    response = call(routes_for(source), "GET", "/")
    assert 200 == response.status
    return response.body.decode()


def token_of(html_text: str) -> str:
    found = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', html_text)
    assert found is not None
    return found.group(1)


def silence_form(token: str, **overrides: str) -> dict[str, str]:
    form = {
        CSRF_FIELD: token,
        "matchers": 'alertname="WarehouseDiskFull"\nwarehouse="lake"',
        "duration": "2h",
        "created_by": "oncall",
        "comment": "replacing the disk",
    }
    form.update(overrides)
    return form


def test_firing_alert_shows_labels_annotations_value_and_how_long_it_fires() -> None:
    text = page(FakeSource())

    assert "WarehouseDiskFull" in text
    assert "Disk under /data/lake is 91.5% full" in text
    assert "Over 85% for 5 minutes." in text
    assert '<dd class="value" title="91.5">91.5</dd>' in text
    assert "2027-01-15 07:54:30Z" in text  # activeAt, NOW - 330 s
    assert "<dd>5m 30s</dd>" in text
    assert '<span class="k">warehouse</span>=<span class="v">lake</span>' in text
    assert "runbook_url" in text


def test_alerts_are_grouped_by_severity_critical_first() -> None:
    text = page(FakeSource(alert_list=[PENDING, FIRING]))

    assert text.index('aria-label="critical"') < text.index('aria-label="warning"')


def test_label_and_annotation_values_are_shown_as_text_not_markup() -> None:
    evil = AlertView(
        "XssTest",
        "firing",
        labels_of(alertname="XssTest", evil=XSS),
        labels_of(summary=XSS),
        1.0,
        NOW - 5,
        expr=f'up{{job="{XSS}"}}',
    )
    source = FakeSource(alert_list=[evil], silence_list=[SilenceView("x", (XSS,), NOW, NOW + 60, XSS, XSS, "active")])

    text = page(source)

    assert "<script>alert" not in text
    scan = PageScan.of(text)
    assert [{"src": "/static/status.js", "defer": None}] == scan.scripts  # the page's own, nothing injected
    assert XSS in scan.texts_of("span", "v")  # the label value
    assert XSS in scan.texts_of("p", "summary")
    assert XSS in scan.texts_of("td")  # the silence's creator and comment ...
    assert XSS in scan.texts_of("code")  # ... and matcher
    assert f'up{{job="{XSS}"}}' == scan.attribute("li", "data-expr")


def test_every_section_renders_its_data() -> None:
    rule = RuleView("DiskFull", "alerting", "firing", "err", "boom <b>", NOW - 10, 0.002, "x > 1")
    source = FakeSource(
        groups=[RuleGroupView("warehouse-disk", "/etc/rules/w.yaml", 10.0, NOW - 10, 0.004, (rule,))],
        collector_list=[CollectorView("warehouse_scan", "lake", False, NOW - 600, 1.5, "timed out after 60s", 3)],
        pending=[OutboxEntryView("slack", "slack/0", '{}:{alertname="A"}', 2, NOW - 30, NOW + 10, "HTTP 503")],
        dead=[OutboxEntryView("pd", "pagerduty/0", "g", 5, NOW - 90, NOW, "HTTP 400: invalid routing key")],
    )

    text = page(source)

    assert "warehouse-disk" in text and "boom &lt;b&gt;" in text and "x &gt; 1" in text
    assert "timed out after 60s" in text and "(10m ago)" in text
    assert "HTTP 503" in text and "HTTP 400: invalid routing key" in text


def test_page_without_anything_says_so() -> None:
    text = page(FakeSource(alert_list=[]))

    assert "No alerts are pending or firing." in text
    assert "No silences." in text
    assert "No dead letters." in text


def test_page_forbids_inline_scripts_and_framing() -> None:
    response = call(routes_for(FakeSource()), "GET", "/")

    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "DENY" == response.headers["x-frame-options"]


def test_static_assets_are_served_from_the_package() -> None:
    routes = routes_for(FakeSource())

    css = call(routes, "GET", "/static/status.css")
    js = call(routes, "GET", "/static/status.js")

    assert (200, "text/css; charset=utf-8") == (css.status, css.content_type)
    assert (200, "text/javascript; charset=utf-8") == (js.status, js.content_type)


def test_silence_post_without_a_token_is_refused() -> None:
    source = FakeSource()

    response = call(routes_for(source), "POST", "/silences", silence_form(""))

    assert 403 == response.status
    assert [] == source.added


def test_silence_post_with_a_forged_token_is_refused() -> None:
    source = FakeSource()
    forged = CsrfTokens(b"another secret", lambda: NOW).issue()

    response = call(routes_for(source), "POST", "/silences", silence_form(forged))

    assert 403 == response.status
    assert [] == source.added


def test_silence_post_from_another_origin_is_refused_even_with_a_token() -> None:
    source = FakeSource()
    token = token_of(page(source))

    response = call(
        routes_for(source), "POST", "/silences", silence_form(token), headers={"origin": "https://evil.example"}
    )

    assert 403 == response.status


def test_an_old_token_is_refused() -> None:
    source = FakeSource()
    token = token_of(page(source))

    response = call(routes_for(source, now=NOW + 13 * 3600), "POST", "/silences", silence_form(token))

    assert 403 == response.status


def test_expire_without_a_token_is_refused() -> None:
    source = FakeSource(silence_list=[SilenceView("s1", ('a="b"',), NOW, NOW + 60, "me", "c", "active")])

    response = call(routes_for(source), "POST", "/silences/expire", {"id": "s1"})

    assert 403 == response.status
    assert [] == source.expired


def test_silence_form_round_trip_creates_and_expires_a_silence() -> None:
    source = FakeSource()
    routes = routes_for(source)
    token = token_of(page(source))

    created = call(routes, "POST", "/silences", silence_form(token), headers={"origin": "http://status.test"})
    shown = call(routes, "GET", "/?silenced=s1").body.decode()
    expired = call(routes, "POST", "/silences/expire", {CSRF_FIELD: token, "id": "s1"})

    assert (303, "/?silenced=s1#silences") == (created.status, created.headers["location"])
    assert [
        (['alertname="WarehouseDiskFull"', 'warehouse="lake"'], NOW, NOW + 7200, "oncall", "replacing the disk")
    ] == source.added
    assert "Silence s1 created." in shown and 'id="silence-s1"' in shown
    assert (303, ["s1"]) == (expired.status, source.expired)


def test_the_alerts_own_form_is_prefilled_with_its_labels() -> None:
    text = page(FakeSource(alert_list=[FIRING]))

    textarea = PageScan.of(text).texts_of("textarea")[0]
    assert textarea.startswith('alertname="WarehouseDiskFull"\npath="/data/lake"')


def test_a_bad_duration_is_reported_and_nothing_is_created() -> None:
    source = FakeSource()
    token = token_of(page(source))

    response = call(routes_for(source), "POST", "/silences", silence_form(token, duration="<b>soon</b>"))

    assert 400 == response.status
    assert ['Silence not created: not a valid duration string: "<b>soon</b>" (use e.g. 30m, 2h, 1d)'] == PageScan.of(
        response.body.decode()
    ).texts_of("p", "banner")
    assert [] == source.added


def test_a_silence_without_a_comment_is_refused() -> None:
    source = FakeSource()
    token = token_of(page(source))

    response = call(routes_for(source), "POST", "/silences", silence_form(token, comment=" "))

    assert 400 == response.status
    assert [] == source.added


def test_silence_seconds_reads_prometheus_durations() -> None:
    assert [7200.0, 5400.0, 86400.0, 30.0] == [silence_seconds(t) for t in ("2h", "1h30m", "1d", "30s")]
    for bad in ("", "2", "h", "2 hours", "0s", "30m1h"):
        with pytest.raises(ValueError):
            silence_seconds(bad)


def test_format_duration_shows_the_two_largest_units() -> None:
    assert ["850ms", "5s", "5m 30s", "1d 2h"] == [format_duration(s) for s in (0.85, 5, 330, 93_784)]


def test_matcher_text_escapes_quotes_backslashes_and_newlines() -> None:
    assert 'a="x\\"y\\\\z\\n"' == matcher_text("a", 'x"y\\z\n')


def test_silences_made_through_the_form_mute_the_alert_in_a_real_silence_store(tmp_path: Path) -> None:
    from agent.runtime.status_source import silence_view

    clock = FakeClock(NOW)
    silences = Silences(tmp_path, clock)

    class RealSilences(FakeSource):
        def silences(self) -> Sequence[SilenceView]:
            return [silence_view(s, clock.time()) for s in silences.list()]

        def add_silence(
            self, matchers: Sequence[str], starts_at: float, ends_at: float, created_by: str, comment: str
        ) -> str:
            return silences.add(matchers, starts_at, ends_at, created_by, comment)

    source = RealSilences(alert_list=[FIRING])
    routes = routes_for(source)
    form = silence_form(token_of(page(source)), matchers=matcher_text("alertname", "WarehouseDiskFull"))

    response = call(routes, "POST", "/silences", form)

    assert 303 == response.status
    assert silences.is_silenced(FIRING.labels)
    silences.close()


def test_the_page_and_a_form_post_over_real_http() -> None:
    source = FakeSource()

    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        server = HttpServer(status_routes(source, now=lambda: NOW))
        host, port = await server.start("127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
                first = await client.get("/")
                posted = await client.post("/silences", data=silence_form(token_of(first.text)))
                return first, posted
        finally:
            await server.close()

    first, posted = asyncio.run(scenario())

    assert (200, "text/html; charset=utf-8") == (first.status_code, first.headers["content-type"])
    assert 303 == posted.status_code
    assert 1 == len(source.added)


def test_a_crafted_notice_link_shows_no_message() -> None:
    text = call(routes_for(FakeSource()), "GET", "/?silenced=Your+password+expired").body.decode()

    assert "Your password expired" not in text


def test_the_runtime_source_shows_a_real_outboxs_dead_letters_with_their_reason(tmp_path: Path) -> None:
    from agent.model import Alert, AlertState
    from agent.notify.model import Notification, Outcome, Result
    from agent.notify.outbox import Outbox
    from agent.runtime.status_source import entry_view

    class Refusing:
        async def send(self, notification: Notification) -> Result:
            return Result(Outcome.GIVE_UP, "HTTP 400: invalid routing key")

    alert = Alert(FIRING.labels, FIRING.annotations, AlertState.FIRING, 91.5, NOW, NOW, NOW + 60, None, "", "r", "f")

    async def deliver() -> list[OutboxEntryView]:
        outbox = Outbox(tmp_path, {"pagerduty": [("pagerduty/0", Refusing())]}, FakeClock(NOW))
        outbox.enqueue(Notification("pagerduty", '{}:{alertname="WarehouseDiskFull"}', (), (alert,), NOW))
        stop = asyncio.Event()
        task = asyncio.create_task(outbox.run(stop))
        for _ in range(200):
            if outbox.dead_letters():
                break
            await asyncio.sleep(0.01)
        stop.set()
        await task
        dead = [entry_view(e) for e in outbox.dead_letters()]
        outbox.close()
        return dead

    dead = asyncio.run(deliver())
    text = page(FakeSource(dead=dead))

    assert ["HTTP 400: invalid routing key"] == [e.reason for e in dead]
    assert "pagerduty/0" in text and "HTTP 400: invalid routing key" in text


def many_alerts(count: int, names: int = 3) -> list[AlertView]:
    return [
        replace(FIRING, name=f"Name{i % names}", labels=labels_of(alertname=f"Name{i % names}", n=str(i)))
        for i in range(count)
    ]


def test_ten_thousand_alerts_give_a_bounded_first_page_with_a_summary_and_a_pager() -> None:
    html_text = page(FakeSource(alert_list=many_alerts(10_000)))
    assert len(html_text) < 200_000  # 9.6 MB before
    assert html_text.count('<li class="alert ') == ALERTS_PER_PAGE
    assert "alerts 1 to 50 of 10000, page 1 of 200" in html_text
    assert 'href="/?page=2#alerts"' in html_text
    assert 'href="/?alertname=Name0#alerts">Name0</a></td><td>3334</td><td>0</td>' in html_text


def test_a_later_page_and_one_alert_name_are_reachable_without_javascript() -> None:
    routes = routes_for(FakeSource(alert_list=many_alerts(120)))
    later = call(routes, "GET", "/?page=3").body.decode()
    assert "alerts 101 to 120 of 120, page 3 of 3" in later
    assert later.count('<li class="alert ') == 20
    one_name = call(routes, "GET", "/?alertname=Name1").body.decode()
    assert {"Name1"} == set(re.findall(r'<strong class="alertname">([^<]+)</strong>', one_name))
    assert "Show every alert" in one_name


def test_alert_names_in_the_summary_are_escaped() -> None:
    evil = replace(FIRING, name=XSS, labels=labels_of(alertname=XSS))
    html_text = page(FakeSource(alert_list=[evil, *many_alerts(60)]))
    assert XSS not in html_text
    assert "?alertname=%3Cscript%3Ealert%28%22pwned%22%29%3C%2Fscript%3E" in html_text
