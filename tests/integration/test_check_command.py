"""`tripwired check` as a CI smoke test: expectations on metrics and alerts, vacuous runs refused, JUnit XML."""

from __future__ import annotations

import subprocess
from pathlib import Path
from xml.etree import ElementTree

from tests.conftest import StartDaemon, run_cli
from tests.prometheus_peer import running_prometheus

RULES = """\
groups:
  - name: pipeline
    rules:
      - alert: OrdersStalled
        expr: orders_written_total == 0
      - alert: OrdersSlow
        expr: orders_written_total < 10
        for: 10m
"""
NO_RULES = "groups: []\n"


def setup(tmp_path: Path, written: int, *, rules: str = RULES) -> Path:
    textfile = tmp_path / "textfile"
    textfile.mkdir(exist_ok=True)
    (textfile / "orders.prom").write_text(f"orders_written_total {written}\n")
    (tmp_path / "rules.yaml").write_text(rules)
    config = tmp_path / "config.yaml"
    config.write_text(
        "global: {interval: 1s, evaluation_interval: 1s}\n"
        f"collectors:\n  host: {{enabled: false}}\n  textfile: {{directory: {textfile}}}\n"
        f"rule_files: [{tmp_path / 'rules.yaml'}]\n"
    )
    return config


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("check", *args, timeout=120)


def test_a_release_whose_telemetry_moved_passes_and_says_so_in_junit(tmp_path: Path) -> None:
    config = setup(tmp_path, written=5)
    report = tmp_path / "check.xml"

    result = check(
        f"--config={config}",
        "--within=3s",
        "--expect-metric=orders_written_total > 0",
        "--expect-no-alert=OrdersStalled",
        f"--junit={report}",
    )

    assert 0 == result.returncode, result.stdout + result.stderr
    example = "orders_written_total{instance='127.0.0.1:9842', job='textfile'} 5"  # the default target labels
    assert f"ok    --expect-metric orders_written_total > 0: 1 series, e.g. {example}" in result.stdout
    suite = ElementTree.parse(report).getroot()
    assert ("2", "0") == (suite.get("tests"), suite.get("failures"))
    assert ["--expect-metric orders_written_total > 0", "--expect-no-alert OrdersStalled"] == [
        case.get("name") for case in suite.iter("testcase")
    ]


def test_missing_telemetry_and_an_unwanted_alert_fail_with_what_was_missing(tmp_path: Path) -> None:
    config = setup(tmp_path, written=0)
    report = tmp_path / "check.xml"

    result = check(
        f"--config={config}",
        "--within=3s",
        '--expect-metric=orders_written_total{topic="payments"}',
        "--expect-no-alert=OrdersStalled",
        f"--junit={report}",
    )

    assert 1 == result.returncode, result.stdout + result.stderr
    assert 'FAIL  --expect-metric orders_written_total{topic="payments"}: no series' in result.stdout
    assert "FAIL  --expect-no-alert OrdersStalled: fired" in result.stdout
    failures = [case.find("failure") for case in ElementTree.parse(report).getroot().iter("testcase")]
    assert ["no series", "fired"] == [failure.get("message") for failure in failures if failure is not None]


def test_an_expected_alert_ends_the_check_as_soon_as_it_fires(tmp_path: Path) -> None:
    config = setup(tmp_path, written=0)

    result = check(f"--config={config}", "--within=60s", "--expect-alert=OrdersStalled")

    assert 0 == result.returncode, result.stdout + result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("ok")]
    assert float(line.rsplit("(", 1)[1].rstrip("s)")) < 30  # well before the 60 s window


def test_an_expression_that_does_not_parse_is_a_usage_error_before_anything_runs(tmp_path: Path) -> None:
    result = check(f"--config={setup(tmp_path, written=5)}", "--within=60s", "--expect-metric=orders_written_total{")

    assert 2 == result.returncode, result.stdout + result.stderr
    assert "--expect-metric orders_written_total{: 1:" in result.stderr and "parse error" in result.stderr


def test_a_check_that_could_not_fail_fails(tmp_path: Path) -> None:
    """No rule and no expectation; a `for` longer than the run; no collector: each would pass vacuously."""
    nothing = check(f"--config={setup(tmp_path, written=5, rules=NO_RULES)}", "--duration=2s")
    too_short = check(f"--config={setup(tmp_path, written=5)}", "--duration=2s")
    (tmp_path / "bare.yaml").write_text(
        f"collectors:\n  host: {{enabled: false}}\nrule_files: [{tmp_path / 'rules.yaml'}]\n"
    )
    no_collector = check(f"--config={tmp_path / 'bare.yaml'}", "--duration=2s", "--expect-no-alert=OrdersStalled")

    assert (1, 1, 1) == (nothing.returncode, too_short.returncode, no_collector.returncode)
    assert "nothing to check: the config loads no alerting rule and no --expect-* was given" in nothing.stdout
    assert "alert OrdersSlow has for 600s, as long as the 2s run: it could never fire" in too_short.stdout
    assert "no collector is enabled" in no_collector.stdout


def test_a_running_agent_is_checked_by_url(tmp_path: Path, start_daemon: StartDaemon) -> None:
    config = setup(tmp_path, written=0)
    daemon = start_daemon(config.read_text())
    daemon.wait_ready()

    passed = check(
        f"--url={daemon.url}", "--within=30s", "--expect-metric=orders_written_total", "--expect-alert=OrdersStalled"
    )
    failed = check(f"--url={daemon.url}", "--within=2s", "--expect-no-alert=OrdersStalled")
    unreachable = check("--url=http://127.0.0.1:1", "--within=1s", "--expect-alert=OrdersStalled")

    assert (0, 1, 1) == (passed.returncode, failed.returncode, unreachable.returncode), passed.stdout + failed.stdout
    assert "cannot reach http://127.0.0.1:1" in unreachable.stdout


def test_a_prometheus_is_checked_by_url_as_an_agent_is(tmp_path: Path, start_daemon: StartDaemon) -> None:
    """A real Prometheus 2.42 that scrapes the agent and loads the same rules answers the same checks."""
    config = setup(tmp_path, written=0)
    daemon = start_daemon(config.read_text())
    daemon.wait_ready()
    prometheus_config = (
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{tmp_path / 'rules.yaml'}]\n"
        f"scrape_configs:\n  - job_name: agent\n    static_configs: [{{targets: ['127.0.0.1:{daemon.port}']}}]\n"
    )
    with running_prometheus(tmp_path, prometheus_config) as prometheus:
        url = f"--url={prometheus}"
        passed = check(url, "--within=60s", "--expect-metric=orders_written_total == 0", "--expect-alert=OrdersStalled")
        failed = check(url, "--within=2s", "--expect-metric=orders_written_total > 0")

    assert (0, 1) == (passed.returncode, failed.returncode), passed.stdout + failed.stdout
    assert "orders_written_total{instance=" in passed.stdout  # Prometheus' own job and instance labels
