"""`rules check` and `rules test`: verdicts, exit codes and promtool-shaped output."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from agent.ruler import ruletest as rule_tests
from tests.conftest import require_binary

RULES = """\
groups:
  - name: g
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: Down
        expr: up == 0
        for: 1m
        annotations: {summary: "{{ $labels.instance }} down"}
"""

TEST = """\
rule_files: [rules.yaml]
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="node", instance="a"}'
        values: '1 0 0 0'
    alert_rule_test:
      - eval_time: 2m
        alertname: Down
        exp_alerts:
          - exp_labels: {job: node, instance: a}
            exp_annotations: {summary: "a down"}
    promql_expr_test:
      - expr: job:up:sum
        eval_time: 0m
        exp_samples:
          - labels: 'job:up:sum{job="node"}'
            value: 1
"""


def write(tmp_path: Path, rules: str = RULES, test: str = TEST) -> Path:
    (tmp_path / "rules.yaml").write_text(rules)
    path = tmp_path / "test.yaml"
    path.write_text(test)
    return path


def run_tests(path: Path) -> tuple[int, str]:
    out = io.StringIO()
    return rule_tests.test_rules([str(path)], out), out.getvalue()


def test_check_rules_reports_rule_count(tmp_path: Path) -> None:
    write(tmp_path)
    out = io.StringIO()
    code = rule_tests.check_rules([str(tmp_path / "rules.yaml")], out)
    assert (0, f"Checking {tmp_path / 'rules.yaml'}\n  SUCCESS: 2 rules found\n\n") == (code, out.getvalue())


def test_check_rules_lists_every_error_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "groups:\n  - name: g\n    rules:\n      - record: a:b\n        expr: up\n        for: 1m\n"
        "      - alert: B\n        expr: up(\n"
    )
    out = io.StringIO()
    code = rule_tests.check_rules([str(bad)], out)
    assert (1, 2) == (code, out.getvalue().count(f"{bad}:"))


def test_passing_test_file_reports_success(tmp_path: Path) -> None:
    path = write(tmp_path)
    assert (0, f"Unit Testing:  {path}\n  SUCCESS\n\n") == run_tests(path)


def test_wrong_alert_expectation_prints_expected_and_got(tmp_path: Path) -> None:
    path = write(tmp_path, test=TEST.replace('summary: "a down"', 'summary: "b down"'))
    code, output = run_tests(path)
    assert 1 == code
    assert (
        "    alertname: Down, time: 2m, \n        exp:[\n            0:\n"
        '              Labels:{alertname="Down", instance="a", job="node"}\n'
        '              Annotations:{summary="b down"}\n            ], \n        got:[\n'
    ) in output


def test_alert_still_pending_is_not_in_the_comparison(tmp_path: Path) -> None:
    path = write(tmp_path, test=TEST.replace("eval_time: 2m", "eval_time: 1m"))
    code, output = run_tests(path)
    assert (1, True) == (code, "        got:[]" in output)


def test_wrong_sample_expectation_prints_go_formatted_values(tmp_path: Path) -> None:
    path = write(tmp_path, test=TEST.replace("value: 1\n", "value: 1.5\n"))
    code, output = run_tests(path)
    assert (1, True) == (
        code,
        '        exp: {__name__="job:up:sum", job="node"} 1.5E+00\n'
        '        got: {__name__="job:up:sum", job="node"} 1E+00\n' in output,
    )


def test_unknown_key_in_test_file_fails(tmp_path: Path) -> None:
    path = write(tmp_path, test=TEST.replace("tests:", "evaluation_intervall: 1m\ntests:"))
    code, output = run_tests(path)
    assert (1, True) == (code, "field evaluation_intervall not found" in output)


def test_bad_rule_file_fails_the_test_with_its_error(tmp_path: Path) -> None:
    path = write(tmp_path, rules=RULES.replace("for: 1m", "for: soon"))
    code, output = run_tests(path)
    assert (1, True) == (code, "not a valid duration string" in output)


def test_alert_test_without_alertname_fails(tmp_path: Path) -> None:
    path = write(tmp_path, test=TEST.replace("        alertname: Down\n", ""))
    code, output = run_tests(path)
    assert (1, True) == (code, "misses required attribute alertname at eval_time 2m" in output)


def test_repeated_group_in_eval_order_fails(tmp_path: Path) -> None:
    path = write(tmp_path, test="group_eval_order: [g, g]\n" + TEST)
    code, output = run_tests(path)
    assert (1, True) == (code, "group name repeated in evaluation order: g" in output)


def test_rule_evaluation_error_stops_the_test_group(tmp_path: Path) -> None:
    rules = RULES.replace("expr: sum by (job) (up)", "expr: up\n        labels: {instance: x}")
    test = TEST.replace(
        "values: '1 0 0 0'",
        "values: '1 0 0 0'\n      - series: 'up{job=\"node\", instance=\"b\"}'\n        values: '1 1 1 1'",
    )
    code, output = run_tests(write(tmp_path, rules=rules, test=test))
    assert (
        1,
        "    rule: job:up:sum, time: 0s, err: vector contains metrics with the same labelset after applying "
        "rule labels\n\n\n",
    ) == (code, output.split("  FAILED:\n")[1])


def test_rule_file_globs_are_resolved_relative_to_the_test_file(tmp_path: Path) -> None:
    path = write(tmp_path, test=TEST.replace("rule_files: [rules.yaml]", "rule_files: ['rul*.yaml']"))
    assert 0 == run_tests(path)[0]


def test_unmatched_rule_file_pattern_is_warned_about(tmp_path: Path) -> None:
    path = write(tmp_path, test=TEST.replace("rule_files: [rules.yaml]", "rule_files: [rules.yaml, 'x*.yaml']"))
    assert f"  WARNING: no file match pattern {tmp_path / 'x*.yaml'}\n" in run_tests(path)[1]


def test_an_eval_time_too_far_away_fails_instead_of_running_for_ages(tmp_path: Path) -> None:
    test = "rule_files: [rules.yaml]\ntests:\n  - promql_expr_test:\n      - expr: up\n        eval_time: 99999y\n"
    status, output = run_tests(write(tmp_path, test=test))
    assert (1, True) == (status, "evaluations every 1m; at most 1000000" in output)


FUTURE_RULES = """\
groups:
  - name: g
    rules:
      - record: next:x
        expr: x offset -1m
"""

FUTURE_TEST = """\
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: x
        values: 1 2 3 4
    promql_expr_test:
      - expr: x offset -1m
        eval_time: 90s
        exp_samples:
          - labels: x
            value: 2
      - expr: next:x
        eval_time: 1m
        exp_samples:
          - labels: next:x
            value: 2
"""


def test_points_load_as_evaluation_reaches_them_as_in_promtool(tmp_path: Path) -> None:
    """A query looking past its evaluation time (offset -1m) sees only points already loaded.

    promtool loads input series lazily, up to each evaluation's time and, for PromQL tests, up to
    the last evaluation; a runner that loads everything first answers 3 here, where promtool says 2.
    """
    path = write(tmp_path, FUTURE_RULES, FUTURE_TEST)
    promtool = require_binary("promtool", "prometheus")
    verdict = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, check=False)

    assert (0, verdict.stdout) == (verdict.returncode, f"Unit Testing:  {path}\n  SUCCESS\n\n")
    assert (0, f"Unit Testing:  {path}\n  SUCCESS\n\n") == run_tests(path)
