"""Rule-file parsing and validation: the schema, and errors that say where and which rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.ruler.rulefile import RuleFileError, RuleKind, load_rule_files, parse_rule_text

GOOD = """\
groups:
  - name: storage
    interval: 30s
    limit: 5
    rules:
      - record: job:disk_used:ratio
        expr: 1 - node_filesystem_avail_bytes / node_filesystem_size_bytes
        labels: {source: rule}
      - alert: DiskFull
        expr: job:disk_used:ratio > 0.85
        for: 5m
        keep_firing_for: 2m
        labels: {severity: page}
        annotations:
          summary: "{{ $labels.instance }} is {{ $value }} full"
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(RuleFileError) as caught:
        parse_rule_text(text, "rules.yaml")
    return caught.value.errors


def rule_file(body: str) -> str:
    return "groups:\n  - name: storage\n    rules:\n" + body


def test_valid_file_yields_groups_with_typed_rules() -> None:
    [group] = parse_rule_text(GOOD, "rules.yaml")
    assert ("storage", 30_000, 5, [RuleKind.RECORD, RuleKind.ALERT]) == (
        group.name,
        group.interval_ms,
        group.limit,
        [r.kind for r in group.rules],
    )


def test_durations_are_milliseconds() -> None:
    alert = parse_rule_text(GOOD, "rules.yaml")[0].rules[1]
    assert (300_000, 120_000) == (alert.hold_ms, alert.keep_firing_for_ms)


def test_group_key_is_file_and_name() -> None:
    assert "rules.yaml;storage" == parse_rule_text(GOOD, "rules.yaml")[0].key


def test_empty_file_has_no_groups() -> None:
    assert [] == parse_rule_text("", "rules.yaml")


def test_unknown_rule_key_is_an_error_with_position_and_rule() -> None:
    errors = errors_of(rule_file("      - alert: A\n        expr: up\n        severity: page\n"))
    assert [e for e in errors if e.startswith('rules.yaml:6:9: group "storage", rule 1, "A": field severity not found')]


def test_unknown_group_key_is_an_error() -> None:
    errors = errors_of("groups:\n  - name: g\n    evaluation_interval: 1m\n    rules: []\n")
    assert 1 == len(errors) and errors[0].startswith("rules.yaml:3:5: field evaluation_interval not found")


def test_for_on_a_recording_rule_is_an_error() -> None:
    errors = errors_of(rule_file("      - record: a:b\n        expr: up\n        for: 5m\n"))
    assert ['rules.yaml:6:14: group "storage", rule 1, "a:b": invalid field \'for\' in recording rule'] == errors


def test_expression_syntax_error_names_rule_and_cause() -> None:
    [error] = errors_of(rule_file("      - alert: DiskFull\n        expr: sum(up\n"))
    assert error.startswith('rules.yaml:5:15: group "storage", rule 1, "DiskFull": could not parse expression: ')


def test_unsupported_construct_is_refused_by_name() -> None:
    [error] = errors_of(rule_file("      - alert: A\n        expr: holt_winters(up[5m], 0.1, 0.1)\n"))
    assert "holt_winters" in error and 'rule 1, "A"' in error


def test_duplicate_group_names_are_an_error() -> None:
    errors = errors_of("groups:\n  - name: g\n    rules: []\n  - name: g\n    rules: []\n")
    assert ['rules.yaml:4:5: groupname: "g" is repeated in the same file'] == errors


def test_invalid_recording_rule_name_is_an_error() -> None:
    [error] = errors_of(rule_file("      - record: bad name\n        expr: up\n"))
    assert error.endswith('"bad name": invalid recording rule name: bad name')


def test_invalid_label_name_is_an_error() -> None:
    [error] = errors_of(rule_file("      - alert: A\n        expr: up\n        labels: {bad-name: x}\n"))
    assert error.endswith("invalid label name: bad-name")


def test_bad_annotation_template_is_an_error() -> None:
    [error] = errors_of(rule_file("      - alert: A\n        expr: up\n        annotations: {s: '{{ $labels.x '}\n"))
    assert error.startswith('rules.yaml:6:23: group "storage", rule 1, "A": annotation "s": ')


def test_rule_with_both_alert_and_record_is_an_error() -> None:
    [error] = errors_of(rule_file("      - alert: A\n        record: b\n        expr: up\n"))
    assert error.endswith("only one of 'record' and 'alert' must be set")


def test_rule_without_expr_is_an_error() -> None:
    [error] = errors_of(rule_file("      - alert: A\n"))
    assert error.endswith("field 'expr' must be set in rule")


def test_bad_duration_is_an_error() -> None:
    [error] = errors_of(rule_file("      - alert: A\n        expr: up\n        for: 5 minutes\n"))
    assert 'rules.yaml:6:14: group "storage", rule 1, "A": for: not a valid duration string' in error


def test_all_errors_are_reported_at_once() -> None:
    text = rule_file("      - record: a:b\n        expr: up\n        for: 1m\n      - alert: B\n        expr: up(\n")
    assert 2 == len(errors_of(text))


def test_group_labels_are_accepted_and_rule_labels_win() -> None:
    text = (
        "groups:\n  - name: g\n    labels: {team: data, severity: info}\n    rules:\n"
        "      - alert: A\n        expr: up\n        labels: {severity: page}\n"
    )
    rule = parse_rule_text(text, "rules.yaml")[0].rules[0]
    assert {"team": "data", "severity": "page"} == dict(rule.labels)


def test_invalid_yaml_is_reported_with_its_line() -> None:
    [error] = errors_of("groups:\n  - name: [\n")
    assert error.startswith("rules.yaml:3:")


def test_errors_of_several_files_are_collected(tmp_path: Path) -> None:
    bad = tmp_path / "a.yaml"
    bad.write_text(rule_file("      - record: a:b\n        expr: up\n        for: 1m\n"))
    missing = tmp_path / "missing.yaml"
    with pytest.raises(RuleFileError) as caught:
        load_rule_files([str(bad), str(missing)])
    assert 2 == len(caught.value.errors)


def test_nesting_deeper_than_python_recursion_is_a_rule_file_error() -> None:
    with pytest.raises(RuleFileError) as caught:
        parse_rule_text("[" * 5000 + "]" * 5000, "r.yaml")
    assert ["r.yaml:1:1: invalid YAML: nested too deeply"] == caught.value.errors
