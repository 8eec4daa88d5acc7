"""`tripwired verify` against a real Prometheus 2.42 (backfilled history) and a real agent: pass, fail, inconclusive."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, StartDaemon, require_binary, wait_until
from tests.prometheus_peer import running_prometheus

STEP = 15  # seconds between backfilled samples
RELATIVE = """\
    success_condition: result <= baseline * 1.10
    failure_condition: result > baseline * 2
"""


def tripwired(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], check=False, cwd=REPO, capture_output=True, text=True, timeout=120
    )


def checks_file(path: Path, *checks: tuple[str, str, str]) -> Path:
    """A checks file of (name, query, conditions) checks, two measurements 0.1 s apart, 40 min baseline."""
    path.write_text(
        "checks:\n"
        + "".join(
            f"  - name: {name}\n    query: '{query}'\n{conditions}"
            "    interval: 100ms\n    count: 2\n    baseline_window: 40m\n"
            for name, query, conditions in checks
        )
    )
    return path


def history(now: int, release: int) -> str:
    """OpenMetrics for promtool: an error ratio per scenario before and after a release, and the release marker."""
    before, after = range(now - 3000, release, STEP), range(release, now - 60, STEP)
    scenarios = {  # scenario: (value before the release or None, value after or None)
        "steady": (0.010, 0.0105),
        "worse": (0.010, 0.030),
        "between": (0.010, 0.015),
        "new": (None, 0.010),
        "gone": (0.010, None),
    }
    lines = ["# TYPE kpi_error_ratio gauge"]
    for scenario, (old, new) in scenarios.items():
        points = [(t, old) for t in before if old is not None] + [(t, new) for t in after if new is not None]
        lines += [f'kpi_error_ratio{{scenario="{scenario}"}} {v} {t}' for t, v in points]
    lines.append("# TYPE tripwired_release_timestamp_seconds gauge")
    lines += [f'tripwired_release_timestamp_seconds{{release="shop",version="2"}} {release} {t}' for t in after]
    return "\n".join([*lines, "# EOF", ""])


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """Prometheus 2.42 over a TSDB backfilled with `promtool tsdb create-blocks-from openmetrics`."""
    base = tmp_path_factory.mktemp("verify-prometheus")
    now = int(time.time())
    release = now - 600
    (base / "history.om").write_text(history(now, release))
    promtool = require_binary("/usr/bin/promtool", "prometheus")
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(base / "history.om"), str(base / "tsdb")],
        check=True,
        capture_output=True,
    )
    with running_prometheus(base, "global: {scrape_interval: 1h}\n", data=base / "tsdb") as url:
        yield url, release


def phases(report: Path) -> dict[str, str]:
    document: dict[str, Any] = json.loads(report.read_text())
    return {check["name"]: check["phase"] for check in document["checks"]}


def test_a_release_within_its_baseline_passes_against_prometheus(tmp_path: Path, prometheus: tuple[str, int]) -> None:
    url, release = prometheus
    checks = checks_file(
        tmp_path / "checks.yaml",
        ("error-ratio-vs-baseline", 'kpi_error_ratio{scenario="steady"}', RELATIVE),
        ("error-ratio-below-5-percent", 'kpi_error_ratio{scenario="steady"}', "    success_condition: result < 0.05\n"),
    )

    result = tripwired("verify", str(checks), f"--url={url}", "--release=shop", f"--output={tmp_path / 'r.json'}")

    assert 0 == result.returncode, result.stdout + result.stderr
    document = json.loads((tmp_path / "r.json").read_text())
    assert release == document["release"]["time"]
    assert [0.010, 0.010] == [m["baseline"] for m in document["checks"][0]["measurements"]]
    assert [0.0105, 0.0105] == [m["value"] for m in document["checks"][0]["measurements"]]
    assert "verification SUCCESSFUL: 2 of 2 checks passed" in result.stdout


def test_a_release_that_tripled_its_error_ratio_fails_naming_the_check(
    tmp_path: Path, prometheus: tuple[str, int]
) -> None:
    url, release = prometheus
    checks = checks_file(
        tmp_path / "checks.yaml",
        ("steady", 'kpi_error_ratio{scenario="steady"}', RELATIVE),
        ("error-ratio-vs-baseline", 'kpi_error_ratio{scenario="worse"}', RELATIVE),
    )

    result = tripwired("verify", str(checks), f"--url={url}", f"--release-time={release}")

    assert 1 == result.returncode, result.stdout + result.stderr
    assert "FAILED        error-ratio-vs-baseline  1 measurement(s): 1 failed" in result.stdout
    assert "result 0.03  baseline 0.01  failure_condition holds: result > baseline * 2" in result.stdout


def test_no_data_no_baseline_and_neither_condition_are_inconclusive(
    tmp_path: Path, prometheus: tuple[str, int]
) -> None:
    url, _ = prometheus
    checks = checks_file(
        tmp_path / "checks.yaml",
        ("between", 'kpi_error_ratio{scenario="between"}', RELATIVE),
        ("new", 'kpi_error_ratio{scenario="new"}', RELATIVE),
        ("gone", 'kpi_error_ratio{scenario="gone"}', RELATIVE),
    )

    result = tripwired("verify", str(checks), f"--url={url}", "--release=shop", "--format=json")

    assert 2 == result.returncode, result.stdout + result.stderr
    document = json.loads(result.stdout)
    messages = {check["name"]: check["measurements"][0]["message"] for check in document["checks"]}
    assert {"between": "inconclusive", "new": "inconclusive", "gone": "inconclusive"} == {
        check["name"]: check["phase"] for check in document["checks"]
    }
    assert "neither success_condition nor failure_condition holds" == messages["between"]
    assert messages["new"].startswith("no baseline: the query returned no series in the 2400s before the release")
    assert "no data: the query returned no series" == messages["gone"]


def test_a_release_marker_that_is_missing_leaves_a_relative_check_inconclusive(
    tmp_path: Path, prometheus: tuple[str, int]
) -> None:
    url, _ = prometheus
    checks = checks_file(tmp_path / "checks.yaml", ("vs-baseline", 'kpi_error_ratio{scenario="steady"}', RELATIVE))

    result = tripwired("verify", str(checks), f"--url={url}", "--release=never-marked")

    assert 2 == result.returncode, result.stdout + result.stderr
    assert 'marker tripwired_release_timestamp_seconds{release="never-marked"} not found' in result.stdout


def test_an_unreachable_api_errs_after_the_consecutive_error_limit_and_fails(tmp_path: Path) -> None:
    checks = tmp_path / "checks.yaml"
    checks.write_text(
        "checks:\n  - {name: up, query: up, success_condition: result == 1, interval: 10ms, count: 5,"
        " consecutive_error_limit: 2}\n"
    )

    result = tripwired("verify", str(checks), "--url=http://127.0.0.1:1", "--format=json")

    assert 1 == result.returncode, result.stdout + result.stderr
    check = json.loads(result.stdout)["checks"][0]
    assert ("error", 3) == (check["phase"], len(check["measurements"]))
    assert check["measurements"][0]["message"].startswith("cannot reach http://127.0.0.1:1")


def test_a_bad_checks_file_names_file_line_and_field_with_its_own_exit_code(tmp_path: Path) -> None:
    checks = tmp_path / "checks.yaml"
    checks.write_text(
        "checks:\n  - name: lag\n    query: sum(rate(x[5m])\n    success_condition: result <= baselin\n    count: 2\n"
    )

    result = tripwired("verify", str(checks))
    missing_file = tripwired("verify")

    assert (3, 3) == (result.returncode, missing_file.returncode)
    assert f"{checks}:3: checks[0].query: invalid PromQL: unclosed left parenthesis" in result.stderr
    assert f"{checks}:4: checks[0].success_condition: invalid condition" in result.stderr
    assert "unknown name 'baselin'" in result.stderr


def agent_value(url: str, expr: str) -> float | None:
    result = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_the_agent_verifies_a_release_it_marked_itself(tmp_path: Path, start_daemon: StartDaemon) -> None:
    """The agent exports the marker `release mark` wrote; verify's baseline ends there: pass, fail, no data."""
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    (textfile / "kpi.prom").write_text("shop_error_ratio 0.01\n")
    daemon = start_daemon(
        f"global: {{interval: 1s}}\ncollectors:\n  host: {{enabled: false}}\n  textfile: {{directory: {textfile}}}\n"
    )
    daemon.wait_ready()
    wait_until(lambda: (agent_value(daemon.url, "count_over_time(shop_error_ratio[1m])") or 0) >= 2, "2 samples")
    checks = tmp_path / "checks.yaml"
    checks.write_text(
        "checks:\n  - name: shop-error-ratio\n    query: shop_error_ratio\n"
        "    success_condition: result <= baseline * 1.10\n    interval: 100ms\n    count: 2\n"
        "    baseline_window: 1m\n    baseline_step: 1s\n"
    )

    def verify_after(value: str | None) -> subprocess.CompletedProcess[str]:
        (textfile / "kpi.prom").unlink(missing_ok=True)
        if value is not None:
            (textfile / "kpi.prom").write_text(f"shop_error_ratio {value}\n")
        expected = None if value is None else float(value)
        wait_until(lambda: agent_value(daemon.url, "shop_error_ratio") == expected, f"shop_error_ratio {value}")
        return tripwired("verify", str(checks), f"--url={daemon.url}", "--release=shop", "--format=json")

    marked = tripwired("release", "mark", "shop", "--version=2.0", f"--textfile-directory={textfile}")
    wait_until(lambda: agent_value(daemon.url, 'tripwired_release_info{release="shop",version="2.0"}') == 1, "marker")
    passed, failed, no_data = verify_after("0.0105"), verify_after("0.05"), verify_after(None)

    assert 0 == marked.returncode, marked.stderr
    assert (0, 1, 2) == (passed.returncode, failed.returncode, no_data.returncode), passed.stdout + failed.stdout
    assert {0.01} == {m["baseline"] for m in json.loads(passed.stdout)["checks"][0]["measurements"]}
