"""The Prometheus HTTP API of a running daemon: targets, status, metadata, and a Prometheus 2.42 beside it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from agent.targets import SYNTHETIC_NAMES, exposed
from tests.conftest import DaemonProcess, StartDaemon, free_port, require_binary, wait_for_http, wait_until

WEBHOOK_SECRET = "https://hooks.example.invalid/services/T000/B000/very-secret-token-123"
RULES = """\
groups:
  - name: batches
    interval: 1s
    rules:
      - record: batches:doubled
        expr: batches * 2
      - alert: BatchesLow
        expr: batches < 5
        labels: {severity: warning}
        annotations: {summary: "only {{ $value }} batches"}
"""


def daemon_config(tmp_path: Path) -> str:
    textfile = tmp_path / "textfile"
    textfile.mkdir(exist_ok=True)
    (textfile / "orders.prom").write_text(
        "# HELP orders_written_total Orders the job wrote.\n# TYPE orders_written_total counter\n"
        'orders_written_total{table="eu"} 5\n# HELP queue_depth Items waiting.\n# TYPE queue_depth gauge\n'
        "queue_depth 3\n# TYPE batches counter\nbatches 2\n"
    )
    (tmp_path / "hook").write_text(WEBHOOK_SECRET)
    (tmp_path / "rules.yaml").write_text(RULES)
    return (
        "global: {interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{tmp_path / 'rules.yaml'}]\n"
        f"state_dir: {tmp_path / 'state'}\n"
        f"collectors:\n  host: {{enabled: false}}\n  textfile: {{directory: {textfile}}}\n"
        "route: {receiver: hook}\n"
        f"receivers: [{{name: hook, webhook_configs: [{{url_file: {tmp_path / 'hook'}}}]}}]\n"
    )


@pytest.fixture
def daemon(tmp_path: Path, start_daemon: StartDaemon) -> DaemonProcess:
    started = start_daemon(daemon_config(tmp_path))
    started.wait_ready()
    return started


def as_exposed(stored: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """A series Prometheus scraped, with its target labels taken off and the agent's own put back."""
    labels = {k: v for k, v in stored.items() if k not in ("job", "instance")}
    for name in ("job", "instance"):
        if f"exported_{name}" in labels:
            labels[name] = labels.pop(f"exported_{name}")
    return tuple(sorted(labels.items()))


def as_openmetrics(name: str, meta: list[dict[str, str]]) -> tuple[str, list[dict[str, str]]]:
    """A family as the agent declares it, as its OpenMetrics exposition names it (agent/export/openmetrics.py)."""
    if meta[0]["type"] != "counter":
        return name, meta
    if name.endswith("_total"):
        return name.removesuffix("_total"), meta
    return name, [{**meta[0], "type": "unknown"}]


def data(daemon: DaemonProcess, path: str, **params: Any) -> Any:
    response = httpx.get(daemon.url + path, params=params, timeout=10)
    assert 200 == response.status_code, response.text
    return response.json()["data"]


def test_each_collector_is_a_target_with_job_and_instance(daemon: DaemonProcess) -> None:
    """A daemon with the textfile collector: /api/v1/targets lists it, up, with when and how long it ran."""
    targets = data(daemon, "/api/v1/targets")["activeTargets"]
    textfile = next(t for t in targets if t["labels"]["job"] == "textfile")

    assert "up" == textfile["health"]
    assert "" == textfile["lastError"]
    assert textfile["lastScrape"].endswith("Z") and textfile["lastScrapeDuration"] >= 0
    assert "1s" == textfile["scrapeInterval"]


def test_the_config_is_shown_with_its_secrets_as_prometheus_shows_them(daemon: DaemonProcess) -> None:
    """A webhook URL read from a file: /api/v1/status/config shows `<secret>` where it goes, never the URL."""
    shown = data(daemon, "/api/v1/status/config")["yaml"]

    assert WEBHOOK_SECRET not in shown and "very-secret-token-123" not in shown
    assert "<secret>" == yaml.safe_load(shown)["receivers"][0]["webhook_configs"][0]["url"]


def test_flags_buildinfo_and_runtimeinfo_answer(daemon: DaemonProcess) -> None:
    """The status pages Grafana and the Prometheus UI read: listen address, version, reload state."""
    assert f"127.0.0.1:{daemon.port}" == data(daemon, "/api/v1/status/flags")["web.listen-address"]
    assert data(daemon, "/api/v1/status/buildinfo")["version"]
    assert data(daemon, "/api/v1/status/runtimeinfo")["reloadConfigSuccess"] is True


def test_a_textfile_metric_is_found_by_series_labels_and_range_query(daemon: DaemonProcess) -> None:
    """What Grafana's query editor asks in turn: metric names, a series' labels, a range query."""
    wait_until(lambda: data(daemon, "/api/v1/query", query="orders_written_total")["result"], "a first collection")
    now = time.time()

    names = data(daemon, "/api/v1/label/__name__/values")
    series = data(daemon, "/api/v1/series", **{"match[]": "orders_written_total"})
    matrix = data(daemon, "/api/v1/query_range", query="queue_depth", start=now - 60, end=now, step="15s")
    form = {"match[]": "queue_depth", "start": str(now - 60)}  # as Grafana POSTs long selectors
    posted = [httpx.post(f"{daemon.url}{path}", data=form, timeout=10) for path in ("/api/v1/series", "/api/v1/labels")]

    assert {"orders_written_total", "queue_depth"} <= set(names)
    target = {"job": "textfile", "instance": f"127.0.0.1:{daemon.port}"}
    assert [{"__name__": "orders_written_total", "table": "eu", **target}] == series
    assert {"3"} == {value for _, value in matrix["result"][0]["values"]}
    assert [[{"__name__": "queue_depth", **target}], ["__name__", "instance", "job"]] == [
        response.json()["data"] for response in posted
    ]


@pytest.fixture
def prometheus_scraping(tmp_path: Path, daemon: DaemonProcess) -> Iterator[str]:
    """A real Prometheus 2.42 scraping the daemon every second; yields its URL.

    Its job is named as the agent names its textfile collector's, so the series of both carry the same labels.
    """
    port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{tmp_path / 'rules.yaml'}]\n"
        f"scrape_configs:\n  - job_name: textfile\n    static_configs: [{{targets: ['127.0.0.1:{daemon.port}']}}]\n"
    )
    with (tmp_path / "prometheus.log").open("wb") as log:
        prometheus = subprocess.Popen(
            [
                require_binary("prometheus", "prometheus"),
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for_http(f"{url}/-/ready")
            yield url
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=30)


def test_metadata_and_status_shapes_equal_those_of_a_prometheus_scraping_the_agent(
    daemon: DaemonProcess, prometheus_scraping: str
) -> None:
    """Prometheus 2.42 scrapes the agent: its /api/v1/metadata for the agent's families is the agent's own.

    Its targets and buildinfo objects have the same fields as the agent's.
    """

    def scraped() -> Any:
        response = httpx.get(f"{prometheus_scraping}/api/v1/metadata", timeout=10).json()["data"]
        return response if "orders_written" in response else None

    wait_until(scraped, "Prometheus scraped the agent's metadata")
    theirs = httpx.get(f"{prometheus_scraping}/api/v1/metadata", timeout=10).json()["data"]
    # The agent names a family by its series' name; over OpenMetrics a counter family drops `_total`
    # and a counter without it is written as unknown.
    ours = dict(as_openmetrics(name, meta) for name, meta in data(daemon, "/api/v1/metadata").items())
    their_targets = httpx.get(f"{prometheus_scraping}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
    their_build = httpx.get(f"{prometheus_scraping}/api/v1/status/buildinfo", timeout=10).json()["data"]

    assert {name: ours[name] for name in theirs if name in ours} == {n: theirs[n] for n in theirs if n in ours}
    assert {"orders_written", "queue_depth", "batches", "tripwired_collector_up"} <= set(ours) & set(theirs)
    assert set(their_targets[0]) == set(data(daemon, "/api/v1/targets")["activeTargets"][0])
    assert set(their_build) == set(data(daemon, "/api/v1/status/buildinfo"))
    assert "up" == their_targets[0]["health"], their_targets[0]["lastError"]


def test_a_prometheus_scraping_the_agent_stores_the_series_the_agent_holds(
    daemon: DaemonProcess, prometheus_scraping: str
) -> None:
    """Prometheus 2.42 scrapes the agent (asking for OpenMetrics first): it stores the agent's series as they are.

    Counter names and label values come out as the agent exposes them (its `instance` label as
    `exported_instance`, as Prometheus renames a target label a series already has); the agent's
    own series carry the target labels it gives its collectors, which its /metrics leaves out.
    """

    def theirs() -> set[tuple[tuple[str, str], ...]]:
        response = httpx.get(
            f"{prometheus_scraping}/api/v1/series", params={"match[]": '{job="textfile"}'}, timeout=10
        ).json()["data"]
        own = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added"}
        own.add("scrape_samples_post_metric_relabeling")
        return {as_exposed(s) for s in response if s["__name__"] not in own}

    targets = {(t["labels"]["job"], t["labels"]["instance"]) for t in data(daemon, "/api/v1/targets")["activeTargets"]}

    def ours() -> set[tuple[tuple[str, str], ...]]:
        series = data(daemon, "/api/v1/series", **{"match[]": '{__name__=~".+"}'})
        held = [tuple(sorted(s.items())) for s in series if s["__name__"] not in SYNTHETIC_NAMES]
        return {exposed(labels, targets) for labels in held}

    wait_until(lambda: theirs() and theirs() == ours(), "Prometheus holding the agent's series")
    assert {(("__name__", "orders_written_total"), ("table", "eu")), (("__name__", "batches"),)} <= theirs()


def test_rules_and_alerts_answer_as_those_of_a_prometheus_with_the_same_rule_file(
    daemon: DaemonProcess, prometheus_scraping: str
) -> None:
    """The same rule file loaded by the agent and by Prometheus 2.42 scraping it: same rules, same alert.

    /api/v1/rules and /api/v1/alerts have the same fields, rules, labels, annotations and alert value
    (Prometheus' alert carries the job and instance of its scrape, the agent's those of its collector).
    """

    def firing(url: str) -> Any:
        alerts = httpx.get(f"{url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        return [a for a in alerts if a["state"] == "firing"]

    wait_until(lambda: firing(prometheus_scraping) and firing(daemon.url), "BatchesLow firing in both")
    theirs_alert, ours_alert = firing(prometheus_scraping)[0], firing(daemon.url)[0]
    theirs = httpx.get(f"{prometheus_scraping}/api/v1/rules", timeout=10).json()["data"]["groups"][0]
    ours = data(daemon, "/api/v1/rules")["groups"][0]

    assert set(theirs) == set(ours)
    assert [set(r) for r in theirs["rules"]] == [set(r) for r in ours["rules"]]
    same = ("name", "query", "labels", "annotations", "type", "health", "duration")
    assert [{k: r.get(k) for k in same} for r in theirs["rules"]] == [
        {k: r.get(k) for k in same} for r in ours["rules"]
    ]
    assert set(theirs_alert) == set(ours_alert)
    assert (theirs_alert["value"], theirs_alert["annotations"]) == (ours_alert["value"], ours_alert["annotations"])
    assert theirs_alert["labels"] == ours_alert["labels"]
