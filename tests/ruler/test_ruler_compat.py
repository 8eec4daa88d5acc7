"""`config check` warnings for rules whose results differ between promql_compat 3 and 2,
and the command-line face of the setting (`--promql-compat`, `--enable-feature`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli import main
from agent.promql import PromQLCompat, Semantics
from agent.ruler.compat import compat_warnings
from agent.ruler.rulefile import parse_rule_text

V3 = Semantics(PromQLCompat.V3)
RULES = """
groups:
  - name: ingest
    rules:
      - alert: IngestStopped
        expr: rate(kafka_topic_messages_in_total{topic=~"orders.*"}[20s]) == 0
      - alert: LagGrowing
        expr: deriv(kafka_consumergroup_lag[10m]) > 0
      - record: job:up:ratio
        expr: avg_over_time(up{job="kafka"}[40s:10s])
"""
# Counts on a one-minute grid: 2 in Prometheus 3, 3 in 2.42 (both promtools' answers).
TEST_FILE = """
tests:
  - interval: 1m
    input_series:
      - series: requests_total{job="api"}
        values: 0+60x10
    promql_expr_test:
      - expr: count_over_time(requests_total[2m])
        eval_time: 4m
        exp_samples:
          - labels: '{job="api"}'
            value: 3
"""


def warnings_for(rules: str, interval_ms: int = 10_000) -> list[str]:
    return compat_warnings(parse_rule_text(rules, "r.yaml", V3), interval_ms, V3)


def test_short_range_on_the_sample_grid_is_reported() -> None:
    assert [w for w in warnings_for(RULES) if "IngestStopped" in w and "range" in w] == [
        'r.yaml: group "ingest", rule "IngestStopped": range [20s] holds 2 samples 10s apart in Prometheus 3 '
        "(left-open) and 3 in 2.x (closed) when one falls on its start"
    ]


def test_regex_with_a_dot_is_reported() -> None:
    assert [w for w in warnings_for(RULES) if "regex" in w] == [
        'r.yaml: group "ingest", rule "IngestStopped": regex topic=~"orders.*": `.` matches a newline in '
        "Prometheus 3 only, so values with newlines match differently"
    ]


def test_long_range_is_not_reported() -> None:
    assert [w for w in warnings_for(RULES) if "LagGrowing" in w] == []


def test_subquery_range_on_its_step_grid_is_reported() -> None:
    assert [w for w in warnings_for(RULES) if "job:up:ratio" in w] == [
        'r.yaml: group "ingest", rule "job:up:ratio": range [40s] holds 4 subquery steps 10s apart in '
        "Prometheus 3 (left-open) and 5 in 2.x (closed) when one falls on its start"
    ]


def test_range_off_the_sample_grid_is_not_reported() -> None:
    assert [w for w in warnings_for(RULES, interval_ms=15_000) if "IngestStopped" in w and "range" in w] == []


def test_config_check_prints_the_warnings_and_still_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.yaml").write_text(RULES)
    config = tmp_path / "c.yaml"
    config.write_text("promql_compat: 3\nrule_files: [r.yaml]\n")
    assert main(["config", "check", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (len(lines), lines[-1]) == (4, f"{config}: config is valid (1 rule files, 1 groups, 3 rules)")
    assert all(line.startswith(f"warning: {tmp_path / 'r.yaml'}: group") for line in lines[:-1])


def test_config_check_loads_the_rule_files_and_names_their_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rule file the daemon would refuse at start-up fails `config check` too, with its file and line."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "good.yaml").write_text(RULES)
    (tmp_path / "rules" / "bad.yaml").write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: sum(\n"
    )
    config = tmp_path / "c.yaml"
    config.write_text("rule_files: [rules/*.yaml, missing.yaml, rules.d/*.yaml]\n")  # rules.d: an empty glob
    assert main(["config", "check", str(config)]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors[0] == (
        f'{tmp_path / "rules" / "bad.yaml"}:5:15: group "g", rule 1, "X": could not parse expression: '
        "1:4: parse error: unclosed left parenthesis"
    )
    assert errors[1:] == [f"{tmp_path / 'missing.yaml'}: cannot read rule file: No such file or directory"]


def test_config_refuses_a_third_promql_compat(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("promql_compat: 1\n")
    assert main(["config", "check", str(config)]) == 2
    assert "promql_compat: expected one of 3, 2, got '1'" in capsys.readouterr().err


def test_rules_test_says_which_semantics_and_follows_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(TEST_FILE)
    codes = [main(["rules", "test", str(path)]), main(["rules", "test", "--promql-compat=2", str(path)])]
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("PromQL semantics")]
    assert (codes, lines) == (
        [1, 0],
        ["PromQL semantics: Prometheus 3 (promql_compat: 3)", "PromQL semantics: Prometheus 2.42 (promql_compat: 2)"],
    )


def test_rules_check_enables_experimental_functions_with_prometheus_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("groups:\n  - name: g\n    rules:\n      - record: r\n        expr: limitk(2, up)\n")
    feature = "--enable-feature=promql-experimental-functions"
    assert [main(["rules", "check", str(path)]), main(["rules", "check", feature, str(path)])] == [1, 0]
    assert "limitk() is experimental" in capsys.readouterr().out


def test_query_offset_is_a_prometheus_3_group_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("groups:\n  - name: g\n    query_offset: 1m\n    rules:\n      - record: r\n        expr: up\n")
    assert [main(["rules", "check", str(path)]), main(["rules", "check", "--promql-compat=2", str(path)])] == [0, 1]
    assert "field query_offset not found" in capsys.readouterr().out


def test_atan2_between_vectors_and_histogram_fraction_are_reported() -> None:
    rules = """
groups:
  - name: g
    rules:
      - record: angle
        expr: y atan2 x
      - record: angle_scalar
        expr: vector(1 atan2 2)
      - record: share
        expr: histogram_fraction(0, 0.5, latency_seconds_bucket)
"""
    assert warnings_for(rules) == [
        'r.yaml: group "g", rule "angle": atan2 drops the metric name in Prometheus 3 and keeps the left '
        "side's in 2.x",
        'r.yaml: group "g", rule "share": histogram_fraction reads classic `le` buckets in Prometheus 3 only; '
        "2.x answers it from native histograms, so nothing here",
    ]
