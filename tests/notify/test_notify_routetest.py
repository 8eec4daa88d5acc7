"""Routing test files (amtool's `config routes test`, as a file format), checked against amtool itself."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from agent.notify import routetest
from tests.conftest import require_binary

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['severity=~"critical|page"']
      receiver: pager
      continue: true
    - matchers: ['team="data"']
      receiver: data-slack
      routes:
        - matchers: ['topic=~"ingest.*"']
          receiver: ingest-oncall
    - match_re: {team: "sre|ops"}
      receiver: sre
receivers:
  - name: default
  - name: pager
  - name: data-slack
  - name: ingest-oncall
  - name: sre
"""


def write(tmp_path: Path, tests: str, config: str = CONFIG) -> str:
    (tmp_path / "tripwired.yaml").write_text(config)
    path = tmp_path / "routes.yaml"
    path.write_text("config: tripwired.yaml\nroute_tests:\n" + tests)
    return str(path)


def run(path: str) -> tuple[int, str]:
    out = io.StringIO()
    return routetest.test_routes([path], out), out.getvalue()


def test_file_whose_cases_route_as_expected_passes(tmp_path: Path) -> None:
    path = write(tmp_path, "  - labels: {severity: page, team: data}\n    receivers: [pager, data-slack]\n")
    assert (0, f"Unit Testing:  {path}\n  SUCCESS\n\n") == run(path)


def test_failing_case_reports_expected_and_got_receivers(tmp_path: Path) -> None:
    path = write(tmp_path, "  - name: pages\n    labels: {severity: page}\n    receivers: [pager, default]\n")
    code, output = run(path)
    assert (
        1,
        '    name: pages,\n    labels: {severity="page"}\n    expected receivers: pager,default\n'
        "    got receivers:      pager",
    ) == (code, output.split("FAILED:\n")[1].rstrip())


def test_config_with_an_unknown_receiver_fails_the_file(tmp_path: Path) -> None:
    config = "route: {receiver: nobody}\nreceivers: [{name: default}]\n"
    code, output = run(write(tmp_path, "  - labels: {a: b}\n    receivers: [nobody]\n", config))
    assert 1 == code
    assert "undefined receiver 'nobody' used in route" in output


def test_bad_test_file_fails_with_its_position(tmp_path: Path) -> None:
    code, output = run(write(tmp_path, "  - labels: {a: b}\n    receiver: [default]\n"))
    assert 1 == code
    assert "routes.yaml:4: route_tests[0].receiver: unknown field 'receiver'" in output


def test_route_test_files_are_told_apart_from_promtool_test_files(tmp_path: Path) -> None:
    promtool = tmp_path / "rules_test.yaml"
    promtool.write_text("rule_files: [rules.yaml]\ntests: []\n")
    assert (True, False) == (
        routetest.is_route_test_file(write(tmp_path, "  []\n")),
        routetest.is_route_test_file(str(promtool)),
    )


@pytest.mark.parametrize(
    "labels",
    [
        ["alertname=X"],
        ["severity=page"],
        ["severity=critical", "team=data"],
        ["team=data", "topic=ingest-1"],
        ["team=data", "topic=pre-ingest"],
        ["team=ops", "severity=page"],
        ["team=sreX"],
    ],
)
def test_receivers_agree_with_amtool(tmp_path: Path, labels: list[str]) -> None:
    amtool = require_binary("amtool", "prometheus-alertmanager")
    config = tmp_path / "alertmanager.yml"
    config.write_text(CONFIG)
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={config}", *labels],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    ours = routetest.receivers_for(routetest.load_route(str(config)), dict(x.split("=") for x in labels))
    assert result.stdout.strip() == ",".join(ours)
