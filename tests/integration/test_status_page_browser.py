"""The status page in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

The page is served by agent.web.server.HttpServer on a free port over RuntimeStatusSource, backed by
a real Store, RuleManager (a rule file that fires), Runner, Silences and Outbox in a temporary state
directory. Screenshots go to $TRIPWIRED_ARTIFACTS (default: the test's temporary directory).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from agent.clock import SystemClock
from agent.collect.base import Scheduled
from agent.collect.runner import Runner
from agent.config.alerting import InhibitRuleConfig, RouteConfig
from agent.export import Exposition
from agent.model import MetricMeta, Sample, gauge, labels_of
from agent.notify.dispatch import Dispatcher
from agent.notify.nflog import NotifyLog
from agent.notify.outbox import Outbox
from agent.notify.silence import Silences
from agent.promql import Engine
from agent.ruler.alerting import generator_url
from agent.ruler.manager import RuleManager
from agent.runtime.status_source import RuntimeStatusSource
from agent.store import Store
from agent.web.app import WebContext, build_routes
from agent.web.graph import graph_routes
from agent.web.server import HttpServer
from agent.web.status import status_routes
from tests.conftest import wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL = "install Debian's chromium and chromium-driver (make test does)"
XSS = '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">'
WAIT_SECONDS = 15.0

RULES = """\
groups:
  - name: warehouse-disk
    interval: 10s
    rules:
      - alert: WarehouseDiskFull
        expr: disk_used_percent > 85
        labels:
          severity: critical
        annotations:
          summary: "Disk under {{ $labels.path }} is {{ $value }}% full"
          description: The filesystem has been more than 85% full.
      - alert: XssProbe
        expr: xss_probe > 0
        labels:
          severity: warning
        annotations:
          summary: "probe {{ $labels.evil }}"
"""

T = TypeVar("T")


class ScanCollector:
    """A collector that always times out its scan (so the page has an error to show)."""

    name = "warehouse_scan"
    instance = "lake"

    def metrics(self) -> Sequence[MetricMeta]:
        return ()

    def collect(self) -> Sequence[Sample]:
        raise OSError("stat /data/lake: stale NFS file handle")


@dataclass
class Agent:
    """The real parts behind the page, living on an event loop in a thread of their own."""

    url: str
    loop: asyncio.AbstractEventLoop
    silences: Silences

    def call(self, function: Callable[[], T]) -> T:
        """Run `function` on the loop's thread (SQLite connections belong to the thread that made them)."""

        async def run() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=WAIT_SECONDS)


async def start_agent(state_dir: Path) -> tuple[HttpServer, str, Silences, Outbox]:
    clock = SystemClock()
    store = Store()
    store.declare([gauge("disk_used_percent", "test"), gauge("xss_probe", "test")])
    now = clock.time()
    for i in range(20, -1, -1):  # the last 10 minutes, for the sparkline
        t = now - i * 30
        store.write(
            "test",
            [
                Sample("disk_used_percent", labels_of(path="/data/lake"), 80.0 + (20 - i) * 0.6),
                Sample("xss_probe", labels_of(evil=XSS), 1.0),
            ],
            int(t * 1000),
        )
    rule_file = state_dir / "rules.yaml"
    rule_file.write_text(RULES)
    engine = Engine(store)
    silences = Silences(state_dir, clock)
    dispatcher = Dispatcher(
        RouteConfig(receiver="team"),
        inhibit_rules=[InhibitRuleConfig(source_matchers=["severity=critical"], target_matchers=["severity=warning"])],
        silences=silences,
        notify_log=NotifyLog(state_dir, clock),
        clock=clock,
        enqueue=lambda notification: None,
    )
    ruler = RuleManager(
        store=store,
        clock=clock,
        notify=dispatcher.add,
        evaluation_interval_s=10.0,
        external_labels={},
        external_url="http://tripwired.test",
        engine=engine,
    )
    ruler.load([str(rule_file)])
    ruler.evaluate_due()
    runner = Runner(store, clock)
    runner.add(Scheduled(ScanCollector(), interval=60.0, timeout=1.0))
    await runner.run_once(runner.states[0])
    outbox = Outbox(state_dir, {}, clock)
    source = RuntimeStatusSource(ruler, lambda: runner, silences, outbox, dispatcher=lambda: dispatcher)

    async def reload() -> str | None:
        return None

    context = WebContext(
        exposition=Exposition(store),
        engine=engine,
        now=clock.time,
        is_ready=lambda: True,
        reload=reload,
        rules=lambda: {},
        alerts=lambda: {},
    )
    graph = graph_routes(engine, clock.time, source.show_value)
    server = HttpServer({**build_routes(context), **status_routes(source, now=clock.time), **graph})
    host, port = await server.start("127.0.0.1", 0)
    return server, f"http://{host}:{port}", silences, outbox


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="status-page-loop", daemon=True)
    thread.start()
    started: Future[tuple[HttpServer, str, Silences, Outbox]] = asyncio.run_coroutine_threadsafe(
        start_agent(tmp_path_factory.mktemp("state")), loop
    )
    server, url, silences, outbox = started.result(timeout=WAIT_SECONDS)
    yield Agent(url, loop, silences)

    async def stop() -> None:
        await server.close()
        silences.close()
        outbox.close()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=WAIT_SECONDS)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=WAIT_SECONDS)
    loop.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("TRIPWIRED_ARTIFACTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_browser(profile: Path, *, javascript: bool) -> Any:
    if shutil.which(CHROMIUM) is None or shutil.which(CHROMEDRIVER) is None:
        pytest.fail(f"{CHROMIUM} or {CHROMEDRIVER} not found: {INSTALL}")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: pip install -e '.[test]' (make test does)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = new_browser(tmp_path_factory.mktemp("chromium-profile"), javascript=True)
    yield driver
    driver.quit()


def alert_item(driver: Any, alertname: str) -> Any:
    from selenium.webdriver.common.by import By

    for item in driver.find_elements(By.CSS_SELECTOR, "li.alert"):
        if item.find_element(By.CSS_SELECTOR, ".alertname").text == alertname:
            return item
    raise AssertionError(f"alert {alertname} not on the page")


def test_the_page_shows_the_firing_alert_with_a_sparkline(agent: Agent, browser: Any, artifacts: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(agent.url + "/")
    alert = alert_item(browser, "WarehouseDiskFull")
    wait_until(lambda: bool(alert.find_elements(By.CSS_SELECTOR, "svg.sparkline polyline")), "the sparkline")
    browser.save_screenshot(str(artifacts / "status-page.png"))

    assert "firing" == alert.find_element(By.CSS_SELECTOR, ".badge.state").text.lower()
    assert "Disk under /data/lake is 92% full" == alert.find_element(By.CSS_SELECTOR, ".summary").text
    assert "92%" == alert.find_element(By.CSS_SELECTOR, "dd.value").text  # disk_used_percent: a percentage
    # The sparkline has axes: the lowest and highest value in the metric's unit, and the time span.
    spark = alert.find_element(By.CSS_SELECTOR, "svg.sparkline")
    labels = [t.text for t in spark.find_elements(By.CSS_SELECTOR, "text")]
    assert labels[:2] == [spark.get_attribute("data-max"), spark.get_attribute("data-min")]
    assert all(label.endswith("%") for label in labels[:2]) and labels[0] != labels[1]
    assert re.fullmatch(r"-\d+m \d+s", labels[2]), labels
    assert labels[3] == "now"
    assert "critical" in alert.find_element(By.XPATH, "ancestor::section[1]").get_attribute("aria-label")
    assert "stale NFS file handle" in browser.find_element(By.ID, "collectors").text
    assert [] == [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def test_adding_a_silence_through_the_form_silences_the_alert(agent: Agent, browser: Any, artifacts: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(agent.url + "/")
    alert = alert_item(browser, "WarehouseDiskFull")
    alert.find_element(By.CSS_SELECTOR, "details.silence-form > summary").click()
    form = alert.find_element(By.CSS_SELECTOR, "form.silence")
    form.find_element(By.NAME, "created_by").send_keys("oncall")
    form.find_element(By.NAME, "comment").send_keys("replacing the disk")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until(
        lambda: "silenced=" in browser.current_url or bool(browser.find_elements(By.CSS_SELECTOR, ".banner")),
        "the answer to the form",
    )
    errors = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".banner.error")]
    assert [] == errors
    browser.save_screenshot(str(artifacts / "status-page-silenced.png"))

    labels = labels_of(alertname="WarehouseDiskFull", severity="critical", path="/data/lake")
    assert agent.call(lambda: agent.silences.is_silenced(labels))
    badge = alert_item(browser, "WarehouseDiskFull").find_element(By.CSS_SELECTOR, ".badge.silenced")
    assert badge.text.startswith("silenced by ")
    assert "oncall" in browser.find_element(By.ID, "silences").text
    assert not agent.call(lambda: agent.silences.is_silenced(labels_of(alertname="XssProbe")))


def test_an_xss_label_value_is_shown_as_text(agent: Agent, browser: Any, artifacts: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    browser.get(agent.url + "/")
    probe = alert_item(browser, "XssProbe")
    browser.save_screenshot(str(artifacts / "status-page-xss.png"))

    shown = [v.text for v in probe.find_elements(By.CSS_SELECTOR, "ul.labels .v")]
    # The critical disk alert inhibits warnings: the page says so rather than showing it as firing.
    assert probe.find_element(By.CSS_SELECTOR, ".badge.state").text.lower() == "firing, inhibited"
    assert probe.find_element(By.CSS_SELECTOR, ".badge.inhibited").text == (
        'inhibited by WarehouseDiskFull{path="/data/lake", severity="critical"}'
    )
    assert XSS in shown
    assert f"probe {XSS}" == probe.find_element(By.CSS_SELECTOR, ".summary").text
    assert "pwned" not in browser.title
    assert [] == browser.find_elements(By.CSS_SELECTOR, "main script, main img")
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - reading it is what raises when there is no dialog


def test_with_javascript_disabled_the_alerts_are_still_listed(agent: Agent, tmp_path: Path, artifacts: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = new_browser(tmp_path / "profile", javascript=False)
    try:
        driver.set_window_size(390, 844)  # a phone
        driver.get(agent.url + "/")
        names = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "li.alert .alertname")]
        driver.save_screenshot(str(artifacts / "status-page-no-js-phone.png"))
        js_class = driver.find_element(By.TAG_NAME, "html").get_attribute("class") or ""
    finally:
        driver.quit()

    assert {"WarehouseDiskFull", "XssProbe"} == set(names)
    assert "js" not in js_class.split()  # status.js did not run


def test_why_links_to_an_explanation_of_the_rule(agent: Agent, browser: Any, artifacts: Path) -> None:
    """The alert's "why?" opens the explain view: the verdict, and each part of the expression with its value."""
    from selenium.webdriver.common.by import By

    browser.get(agent.url + "/")
    alert_item(browser, "WarehouseDiskFull").find_element(By.CSS_SELECTOR, "a.explain").click()
    wait_until(lambda: bool(browser.find_elements(By.ID, "verdict")), "the explain view")
    browser.save_screenshot(str(artifacts / "explain-firing.png"))
    assert browser.find_element(By.ID, "verdict").text.startswith("Firing: 1 alert")
    parts = [
        p.find_element(By.CSS_SELECTOR, "code.expr").text for p in browser.find_elements(By.CSS_SELECTOR, "li.part")
    ]
    assert parts == ["disk_used_percent > 85", "disk_used_percent"]
    values = [v.text for v in browser.find_elements(By.CSS_SELECTOR, "li.part td.value")]
    assert values == ["92%", "92%"]

    browser.get(agent.url + "/")
    alert_item(browser, "XssProbe").find_element(By.CSS_SELECTOR, "a.explain").click()
    wait_until(lambda: bool(browser.find_elements(By.ID, "verdict")), "the explain view")
    assert "pwned" not in browser.title
    assert [] == browser.find_elements(By.CSS_SELECTOR, "main script, main img")


def test_an_alerts_source_link_opens_the_query_page_as_table_and_graph(
    agent: Agent, browser: Any, artifacts: Path
) -> None:
    """The generatorURL of every notification opens /graph: the table, then the graph with its axes."""
    from selenium.webdriver.common.by import By

    browser.get(generator_url(agent.url, "disk_used_percent > 85"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#result tbody tr")
    browser.save_screenshot(str(artifacts / "graph-table.png"))
    assert [r.text for r in rows] == ['disk_used_percent{path="/data/lake"} 92%']

    browser.find_element(By.CSS_SELECTOR, "nav.tabs a:last-child").click()
    wait_until(lambda: bool(browser.find_elements(By.ID, "chart")), "the graph")
    browser.save_screenshot(str(artifacts / "graph-chart.png"))
    y_ticks = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#chart text.y-tick")]
    x_ticks = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#chart text.x-tick")]
    assert len(y_ticks) >= 2 and all(t.endswith("%") for t in y_ticks)
    assert len(x_ticks) >= 2 and all(re.fullmatch(r"\d\d:\d\d", t) for t in x_ticks)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart polyline.series")) == 1
    assert [] == [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
