"""Tests for alert label and annotation templates (agent/ruler/alert_template.py on agent/gotemplate/).

Unit tests pin each construct to what Prometheus 2.42 prints; the differential tests at the
end hand our expansions to the real promtool as expectations and require it to agree.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from agent.ruler.alert_template import TemplateError, check_template, expand, parse_template
from tests.conftest import require_binary

LABELS = {"__name__": "up", "instance": "db1.example.org:9100", "job": "node"}
EXTERNAL_LABELS = {"cluster": "eu1"}
EXTERNAL_URL = "http://prometheus.example:9090/prom"


def render(text: str, value: float = 1.0, labels: Mapping[str, str] = LABELS) -> str:
    """Expand text for one alert with the test's labels, external labels and URL."""
    return expand(text, labels=labels, value=value, external_labels=EXTERNAL_LABELS, external_url=EXTERNAL_URL)


def render_error(text: str, value: float = 1.0) -> str:
    """The message of the TemplateError that expanding text raises."""
    with pytest.raises(TemplateError) as caught:
        render(text, value)
    return str(caught.value)


# --- Printing values like Go ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (1e6, "1e+06"),
        (0.1, "0.1"),
        (3.0, "3"),
        (1.5e-07, "1.5e-07"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
        (1234567.0, "1.234567e+06"),
        (100000.0, "100000"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-0.0, "-0"),
    ],
)
def test_value_prints_like_go_percent_v(value: float, printed: str) -> None:
    assert printed == render("{{ $value }}", value)


def test_labels_print_as_a_go_map_with_sorted_keys() -> None:
    assert "map[__name__:up instance:db1.example.org:9100 job:node]" == render("{{ $labels }}")


def test_missing_label_prints_empty_because_prometheus_sets_missingkey_zero() -> None:
    assert "[][]" == render('[{{ $labels.nope }}][{{ index $labels "nope" }}]')


def test_dot_prints_the_alert_data_struct_in_field_order() -> None:
    expected = "{map[__name__:up instance:db1.example.org:9100 job:node] map[cluster:eu1] " + EXTERNAL_URL + " 2}"
    assert expected == render("{{ . }}", 2.0)


def test_external_labels_and_url_are_available_as_variables_and_fields() -> None:
    assert f"eu1 eu1 {EXTERNAL_URL}" == render(
        "{{ $externalLabels.cluster }} {{ .ExternalLabels.cluster }} {{ $externalURL }}"
    )


def test_bools_and_numeric_constants_print_as_go_constants() -> None:
    assert "true 1000 16 15 5 1 97 -5" == render(
        "{{ true }} {{ 1e3 }} {{ 0x10 }} {{ 017 }} {{ 0b101 }} {{ 1.0 }} {{ 'a' }} {{ -5 }}"
    )


# --- Text, trim markers, comments ------------------------------------------------------


def test_text_without_actions_is_unchanged() -> None:
    assert "disk {full} on db1" == render("disk {full} on db1")


def test_trim_markers_remove_adjacent_whitespace() -> None:
    assert "a3b" == render("a \n {{- 3 -}} \n b")


def test_dash_without_following_space_is_a_negative_number() -> None:
    assert "x-3" == render("x{{-3}}")


def test_comments_print_nothing_and_honour_trim_markers() -> None:
    assert "ab" == render("a  {{- /* why */ -}}  b")


def test_unclosed_comment_is_a_parse_error() -> None:
    assert "unclosed comment" in (check_template("{{/* forever }}") or "")


def test_right_delimiter_inside_a_string_does_not_end_the_action() -> None:
    assert "}}" == render('{{ "}}" }}')


# --- Variables and fields --------------------------------------------------------------


def test_declaration_prints_nothing_and_binds_the_value() -> None:
    assert "[]node" == render("[{{ $job := $labels.job }}]{{ $job }}")


def test_assignment_inside_if_changes_the_outer_variable() -> None:
    assert "b" == render('{{ $x := "a" }}{{ if true }}{{ $x = "b" }}{{ end }}{{ $x }}')


def test_variable_declared_inside_if_is_out_of_scope_after_end() -> None:
    assert 'undefined variable "$y"' in (check_template("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}") or "")


def test_undefined_variable_is_a_parse_error() -> None:
    assert check_template("{{ $nope }}") is not None


def test_root_variable_reaches_the_data_inside_range() -> None:
    assert "node" == render("{{ range $labels }}{{ end }}{{ with $labels.job }}{{ $.Labels.job }}{{ end }}")


def test_field_chain_reads_struct_fields_then_map_keys() -> None:
    assert "node 2" == render("{{ .Labels.job }} {{ .Value }}", 2.0)


def test_unknown_struct_field_is_an_expansion_error() -> None:
    assert "can't evaluate field Nope" in render_error("{{ .Nope }}")


def test_field_of_a_float_is_an_expansion_error() -> None:
    assert "can't evaluate field x in type float64" in render_error("{{ $value.x }}")


# --- Pipelines and arguments ------------------------------------------------------------


def test_pipeline_passes_the_value_as_the_last_argument() -> None:
    assert "a-x" == render('{{ "x" | printf "%s-%s" "a" }}')


def test_parenthesized_pipeline_is_an_argument() -> None:
    assert "1.5k!" == render('{{ printf "%s!" (humanize $value | printf "%s") }}', 1500.0)


def test_constant_in_a_later_pipeline_stage_is_a_parse_error() -> None:
    assert "non executable command in pipeline stage 2" in (check_template("{{ 1 | 2 }}") or "")


def test_argument_to_a_non_function_is_an_expansion_error() -> None:
    assert "can't give argument to non-function" in render_error("{{ 1 | $value }}")


def test_number_where_a_string_is_expected_is_an_expansion_error() -> None:
    assert "expected string; found 3" in render_error("{{ toUpper 3 }}")


def test_float_variable_where_a_string_is_expected_is_an_expansion_error() -> None:
    assert "wrong type for value; expected string; got float64" in render_error("{{ toUpper $value }}")


def test_wrong_argument_count_is_an_expansion_error() -> None:
    assert "wrong number of args for humanize: want 1 got 2" in render_error("{{ humanize 1 2 }}")


def test_raw_strings_keep_backslashes_and_quoted_strings_decode_escapes() -> None:
    assert "a\\tb|A\u00e9\t" == render('{{ `a\\tb` }}|{{ "\\x41\\u00e9\\t" }}')


# --- Prometheus' humanize functions -----------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ humanize 0 }}", "0"),
        ("{{ humanize 1234567 }}", "1.235M"),
        ("{{ humanize -1234 }}", "-1.234k"),
        ("{{ humanize 0.000123 }}", "123u"),
        ("{{ humanize 1e30 }}", "1e+06Y"),
        ("{{ humanize1024 1024 }}", "1ki"),
        ("{{ humanize1024 0.5 }}", "0.5"),
        ("{{ humanize1024 1234567 }}", "1.177Mi"),
        ("{{ humanizeDuration 0 }}", "0s"),
        ("{{ humanizeDuration 0.000123 }}", "123us"),
        ("{{ humanizeDuration 3.5 }}", "3.5s"),
        ("{{ humanizeDuration -90 }}", "-1m 30s"),
        ("{{ humanizeDuration 3600 }}", "1h 0m 0s"),
        ("{{ humanizeDuration 1234567 }}", "14d 6h 56m 7s"),
        ("{{ humanizePercentage 0.5 }}", "50%"),
        ("{{ humanizePercentage 0.123456 }}", "12.35%"),
        ("{{ humanizeTimestamp 1435065584.128 }}", "2015-06-23 13:19:44.128 +0000 UTC"),
        ("{{ humanizeTimestamp -1.5 }}", "1969-12-31 23:59:58.5 +0000 UTC"),
    ],
)
def test_humanize_functions_match_prometheus(template: str, expected: str) -> None:
    assert expected == render(template)


@pytest.mark.parametrize(
    ("template", "value", "expected"),
    [
        ("{{ humanize $value }}", math.inf, "+Inf"),
        ("{{ humanize1024 $value }}", -math.inf, "-Inf"),
        ("{{ humanizeDuration $value }}", math.nan, "NaN"),
        ("{{ humanizeTimestamp $value }}", math.inf, "+Inf"),
    ],
)
def test_humanize_functions_print_non_finite_values_as_go_does(template: str, value: float, expected: str) -> None:
    assert expected == render(template, value)


def test_humanize_accepts_numeric_strings() -> None:
    assert "12.35k" == render('{{ "12345" | humanize }}')


def test_humanize_of_a_non_numeric_string_is_a_parse_float_error() -> None:
    assert 'strconv.ParseFloat: parsing "abc": invalid syntax' in render_error('{{ humanize "abc" }}')


def test_humanize_of_a_bool_is_a_conversion_error() -> None:
    assert "can't convert bool to float" in render_error("{{ humanize true }}")


def test_humanize_timestamp_outside_int64_nanoseconds_is_an_error() -> None:
    assert "1e+300 cannot be represented as a nanoseconds timestamp" in render_error("{{ humanizeTimestamp 1e300 }}")


# --- printf and print -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{ printf "%.2f" 3.14159 }}', "3.14"),
        ('{{ printf "%d|%5d|%-5d|%05d|%+d" 42 42 42 -42 7 }}', "42|   42|42   |-0042|+7"),
        ('{{ printf "%s|%6s|%-6s|%.2s" "ab" "ab" "ab" "héllo" }}', "ab|    ab|ab    |hé"),
        ('{{ printf "%q" "a\\"b\\n" }}', '"a\\"b\\n"'),
        ('{{ printf "%x|%X|%x" "hi" 255 -255 }}', "6869|FF|-ff"),
        ('{{ printf "%v|%g|%e|%f" 1e6 1e6 1e6 0.5 }}', "1e+06|1e+06|1.000000e+06|0.500000"),
        ('{{ printf "%.3g|%10.3f|%08.3f" 1234567.0 2.5 -3.14159 }}', "1.23e+06|     2.500|-003.142"),
        (
            '{{ printf "%v %t %v" $labels true nil }}',
            "map[__name__:up instance:db1.example.org:9100 job:node] true <nil>",
        ),
        ('{{ printf "100%%" }}', "100%"),
        ('{{ printf "%05s" "ab" }}', "000ab"),
    ],
)
def test_printf_formats_like_go_fmt(template: str, expected: str) -> None:
    assert expected == render(template)


def test_printf_infinity_keeps_its_sign() -> None:
    assert "+Inf|+Inf" == render('{{ printf "%f|%.2e" $value $value }}', math.inf)


def test_printf_reports_missing_and_extra_arguments_inline() -> None:
    assert "1 %!s(MISSING)|1%!(EXTRA int=2, string=x)" == render('{{ printf "%d %s" 1 }}|{{ printf "%d" 1 2 "x" }}')


def test_printf_reports_a_verb_that_does_not_suit_the_value_inline() -> None:
    assert "%!d(float64=1.5) %!s(<nil>)" == render('{{ printf "%d %s" $value nil }}', 1.5)


def test_print_puts_spaces_only_between_non_strings() -> None:
    assert "1 2a3" == render('{{ print 1 2 "a" 3 }}')


# --- String and regexp functions --------------------------------------------------------


def test_title_upper_and_lower_map_rune_by_rune_like_go() -> None:
    assert "Hello WORLD-Foo_bar|STRAßE|abc" == render(
        '{{ title "hello wORLD-foo_bar" }}|{{ toUpper "straße" }}|{{ toLower "ABC" }}'
    )


def test_re_replace_all_expands_numbered_and_named_groups() -> None:
    template = '{{ reReplaceAll "(?P<host>[^:.]+)[^:]*:(\\\\d+)" "$host/${2}" $labels.instance }}'
    assert "db1/9100" == render(template)


def test_re_replace_all_treats_dollar_followed_by_word_as_one_group_name() -> None:
    assert "[aa]" == render('{{ reReplaceAll "(a)(b)?" "[$1$2x${1}]" "ab" }}')


def test_re_replace_all_skips_empty_matches_right_after_a_match_like_go() -> None:
    assert "-a-b-d-" == render('{{ reReplaceAll "x*" "-" "abxd" }}')


def test_regexp_dollar_matches_only_at_the_very_end_like_go() -> None:
    assert "false" == render('{{ match "a$" "a\\n" }}')


def test_regexp_whitespace_class_excludes_vertical_tab_like_go() -> None:
    assert "a_\x0b_b" == render('{{ reReplaceAll "\\\\s+" "_" "a \\v b" }}')


def test_regexp_posix_classes_are_supported() -> None:
    assert "aNbN" == render('{{ reReplaceAll "[[:digit:]]+" "N" "a12b3" }}')


def test_regexp_unicode_classes_python_lacks_work_as_in_go() -> None:
    """`\\pL` and `\\Q...\\E` are RE2 syntax Python's re refuses."""
    assert "X 42|a+b" == render(
        '{{ reReplaceAll "\\\\pL+" "X" "h\u00e9llo 42" }}|{{ reReplaceAll "\\\\Qa.b\\\\E" "a+b" "a.b" }}'
    )


def test_regexp_backreference_python_would_take_is_an_error() -> None:
    assert "invalid escape sequence" in render_error('{{ match "(a)\\\\1" "aa" }}')


def test_regexp_lookahead_go_cannot_compile_is_an_error() -> None:
    assert "regexp" in render_error('{{ match "a(?=b)" "ab" }}')


def test_invalid_regexp_is_an_expansion_error() -> None:
    assert "error calling reReplaceAll" in render_error('{{ reReplaceAll "(" "x" "y" }}')


def test_strip_port_and_strip_domain_split_host_names() -> None:
    expected = "db1.example.org|::1|nohost|db1:9100|10.0.0.1:80"
    template = (
        '{{ stripPort $labels.instance }}|{{ stripPort "[::1]:9090" }}|{{ stripPort "nohost" }}|'
        '{{ stripDomain $labels.instance }}|{{ stripDomain "10.0.0.1:80" }}'
    )
    assert expected == render(template)


# --- Comparison, logic, len, index ------------------------------------------------------


def test_comparisons_of_same_kind_values() -> None:
    assert "true true true true false true" == render(
        '{{ lt 1 2 }} {{ le 2 2 }} {{ gt "b" "a" }} {{ ge 1.5 1.5 }} {{ ne "a" "a" }} {{ eq "a" "b" "a" }}'
    )


def test_comparing_a_float_value_with_an_int_constant_is_an_error_as_in_go() -> None:
    assert "incompatible types for comparison" in render_error("{{ if eq $value 3 }}x{{ end }}", 3.0)


def test_and_or_return_an_operand_and_skip_the_rest() -> None:
    assert "0|x|ok" == render('{{ and 0 (index $labels 1) }}|{{ or 0 "x" }}|{{ if or 1 (index $labels 1) }}ok{{ end }}')


def test_not_and_len() -> None:
    assert "true 3 6" == render('{{ not "" }} {{ len $labels }} {{ len "héllo" }}')


def test_index_of_a_string_gives_a_byte() -> None:
    assert "98" == render('{{ index "abc" 1 }}')


# --- Control structures -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "branch"),
    [(5000.0, "big"), (5.0, "mid"), (0.001, "small")],
)
def test_if_else_if_else_picks_the_first_true_branch(value: float, branch: str) -> None:
    assert branch == render("{{ if gt $value 1000.0 }}big{{ else if gt $value 1.0 }}mid{{ else }}small{{ end }}", value)


@pytest.mark.parametrize(
    ("condition", "truth"),
    [
        ('""', "F"),
        ('"x"', "T"),
        ("0", "F"),
        ("0.0", "F"),
        ("-1", "T"),
        ("$externalLabels", "T"),
        ("$value", "F"),
        ("false", "F"),
    ],
)
def test_truthiness_follows_go(condition: str, truth: str) -> None:
    assert truth == render(f"{{{{ if {condition} }}}}T{{{{ else }}}}F{{{{ end }}}}", 0.0)


def test_range_visits_a_map_in_sorted_key_order_with_key_and_value() -> None:
    assert "__name__=up;instance=db1.example.org:9100;job=node;" == render(
        "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}"
    )


def test_range_with_one_variable_binds_the_element_and_dot() -> None:
    assert "up=up;" == render('{{ range $v := $labels }}{{ if eq . "up" }}{{ $v }}={{ . }};{{ end }}{{ end }}')


def test_range_over_an_empty_map_runs_else() -> None:
    assert "empty" == render("{{ range $labels }}x{{ else }}empty{{ end }}", labels={})


def test_range_over_a_float_is_an_expansion_error() -> None:
    assert "range can't iterate over 2" in render_error("{{ range $value }}{{ end }}", 2.0)


def test_break_leaves_the_range_and_continue_skips_to_the_next_element() -> None:
    template = (
        '{{ range $k, $v := $labels }}{{ if eq $k "instance" }}{{ continue }}{{ end }}'
        '{{ if eq $k "job" }}{{ break }}{{ end }}{{ $k }};{{ end }}'
    )
    assert "__name__;" == render(template)


def test_break_outside_a_range_body_is_a_parse_error() -> None:
    assert "{{break}} outside {{range}}" in (check_template("{{ range $labels }}{{ else }}{{ break }}{{ end }}") or "")


def test_with_moves_dot_or_runs_else() -> None:
    assert "node|none" == render(
        "{{ with $labels.job }}{{ . }}{{ end }}|{{ with $labels.nope }}x{{ else }}none{{ end }}"
    )


def test_unterminated_if_is_a_parse_error() -> None:
    assert "unexpected EOF" in (check_template("{{ if true }}x") or "")


def test_stray_end_is_a_parse_error() -> None:
    assert "unexpected {{end}}" in (check_template("x{{ end }}") or "")


# --- What tripwired refuses -------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["query", "first", "label", "value", "sortByLabel", "safeHtml", "pathPrefix", "externalURL", "tmpl"]
)
def test_server_functions_are_refused_by_name_at_load_time(name: str) -> None:
    message = check_template(f'{{{{ {name} "x" }}}}') or ""
    assert f'function "{name}" is not supported by tripwired' in message


def test_unknown_function_is_reported_as_not_defined() -> None:
    assert '1:4: function "bogus" not defined' == check_template("{{ bogus }}")


def test_define_and_template_are_refused() -> None:
    assert "{{define}} is not supported" in (check_template('{{ define "x" }}{{ end }}') or "")


def test_valid_template_checks_clean() -> None:
    assert check_template("{{ $labels.instance }} is {{ $value | humanizePercentage }}") is None


def test_expand_refuses_what_check_template_refuses() -> None:
    assert "query" in render_error('{{ query "up" }}')


# --- Bounds -----------------------------------------------------------------------------


def test_output_size_is_bounded() -> None:
    assert "exceeds" in render_error('{{ range $labels }}{{ printf "%999999d" 1 }}{{ printf "%999999d" 1 }}{{ end }}')


def test_range_iterations_are_bounded() -> None:
    many = {f"l{i:02d}": "v" for i in range(30)}
    text = "{{ range $labels }}{{ range $labels }}{{ range $labels }}{{ end }}{{ end }}{{ end }}"
    with pytest.raises(TemplateError, match="iterations"):
        render(text, labels=many)


def test_deep_parentheses_are_refused() -> None:
    assert "nested deeper" in (check_template("{{ " + "(" * 200 + "1" + ")" * 200 + " }}") or "")


def test_parsed_template_expands_for_many_alerts() -> None:
    template = parse_template("{{ $labels.job }}={{ $value }}")
    outputs = [
        template.expand(labels={"job": job}, value=value, external_labels={}, external_url="")
        for job, value in (("a", 1.0), ("b", 2.5))
    ]
    assert ["a=1", "b=2.5"] == outputs


# --- Differential tests against the real promtool ---------------------------------------

# Templates rule authors write, exercising every construct above; promtool must agree.
DIFFERENTIAL_TEMPLATES = [
    "{{ $value }}",
    "{{ .Value }} {{ $labels }} {{ $externalLabels }} {{ $externalURL }}",
    "{{ . }}",
    "{{ humanize $value }}|{{ humanize1024 $value }}|{{ humanizeDuration $value }}",
    "{{ humanizePercentage $value }}|{{ humanizeTimestamp $value }}",
    '{{ $value | humanize }} {{ printf "%.2f" $value }} {{ printf "%g|%e|%v" $value $value $value }}',
    '{{ printf "%10.3f|%-10.2e|%+g|% g|%010.2f|%d" $value $value $value $value $value $value }}',
    '{{ printf "%s|%q|%x|%5.1s|%v" $labels.job $labels.instance $labels.job "abc" $labels }}',
    "{{ if gt $value 1000.0 }}big{{ else if gt $value 0.001 }}mid{{ else }}small{{ end }}",
    '{{ range $k, $v := $labels }}{{ if ne $k "__name__" }}{{ $k }}={{ $v }};{{ end }}{{ end }}',
    "{{ range $labels }}[{{ . }}]{{ else }}none{{ end }}{{ range .ExternalLabels }}<{{ . }}>{{ end }}",
    "{{ with $labels.instance }}on {{ . }}{{ else }}nowhere{{ end }}|{{ with $labels.nope }}x{{ else }}no{{ end }}",
    '{{ $labels.nope }}|{{ index $labels "job" }}|{{ len $labels }}|{{ index $externalLabels "cluster" }}',
    '{{ and 1 0 }}|{{ or 0 "x" }}|{{ not $value }}|{{ eq $labels.job "node" "x" }}|{{ lt $value 1.0 }}',
    '{{ title "hello wORLD-foo_bar" }}|{{ toUpper $labels.job }}|{{ toLower "ABC" }}',
    '{{ reReplaceAll "(.*):.*" "$1" $labels.instance }}|{{ reReplaceAll "x*" "-" "abxd" }}',
    '{{ match "^db" $labels.instance }}|{{ match "a$" "a\\n" }}',
    "{{ stripPort $labels.instance }}|{{ stripDomain $labels.instance }}",
    '  {{- "trimmed" -}}  \n  {{/* comment */}}{{ $x := 1 }}{{ $x = 2 }}{{ $x }}',
    '{{ print 1 2 "a" 3 }}|{{ printf "%d %s" 1 }}|{{ printf "%d" $value }}',
    "{{ 1e3 }} {{ 0x10 }} {{ 017 }} {{ 1.0 }} {{ -0.5 }} {{ true }}",
    '{{ $v := printf "%.1f" $value }}{{ $v }} {{ humanize (printf "%f" $value) }}',
    '{{ range $k, $v := $labels }}{{ if eq $k "case" }}{{ continue }}{{ end }}'
    '{{ if eq $k "job" }}{{ break }}{{ end }}{{ $k }};{{ end }}',
]

# One series per value; the "case" label keeps the alerts apart.
DIFFERENTIAL_VALUES = {
    "tiny": "0.000123",
    "big": "1234567",
    "hour": "3600",
    "half": "0.5",
    "inf": "+Inf",
    "neg": "-2.5",
}


def _alert_labels(case: str) -> dict[str, str]:
    return {"case": case, "instance": "db1.example.org:9100", "job": "node"}


def _expected_alerts(templates: list[str]) -> list[dict[str, object]]:
    """Our expansion of every template for every series, in promtool's exp_alerts shape."""
    alerts: list[dict[str, object]] = []
    for case, value_text in DIFFERENTIAL_VALUES.items():
        # The alert's expression keeps the metric name, so Prometheus' $labels includes it.
        labels = {"__name__": "tw_template_probe", **_alert_labels(case)}
        annotations = {
            f"t{index:02d}": expand(
                text, labels=labels, value=float(value_text), external_labels=EXTERNAL_LABELS, external_url=EXTERNAL_URL
            )
            for index, text in enumerate(templates)
        }
        alerts.append({"exp_labels": _alert_labels(case), "exp_annotations": annotations})
    return alerts


def _write_promtool_files(tmp_path: Path, templates: list[str], alerts: list[dict[str, object]]) -> Path:
    """Write a rule file whose annotations are the templates, and a test file expecting alerts."""
    annotations = {f"t{index:02d}": text for index, text in enumerate(templates)}
    rule = {"alert": "TemplateProbe", "expr": "tw_template_probe", "annotations": annotations}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "templates", "rules": [rule]}]}))
    series = [
        {
            "series": "tw_template_probe{" + ",".join(f'{k}="{v}"' for k, v in _alert_labels(case).items()) + "}",
            "values": v,
        }
        for case, v in DIFFERENTIAL_VALUES.items()
    ]
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "external_labels": EXTERNAL_LABELS,
                "external_url": EXTERNAL_URL,
                "input_series": series,
                "alert_rule_test": [{"eval_time": "0m", "alertname": "TemplateProbe", "exp_alerts": alerts}],
            }
        ],
    }
    test_file = tmp_path / "test.yml"
    test_file.write_text(yaml.safe_dump(test))
    return test_file


def _promtool_test_rules(test_file: Path) -> subprocess.CompletedProcess[str]:
    promtool = require_binary("promtool", "prometheus")
    return subprocess.run(
        [promtool, "test", "rules", test_file.name],
        check=False,
        cwd=test_file.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_promtool_agrees_with_our_expansion_of_many_templates(tmp_path: Path) -> None:
    test_file = _write_promtool_files(tmp_path, DIFFERENTIAL_TEMPLATES, _expected_alerts(DIFFERENTIAL_TEMPLATES))
    result = _promtool_test_rules(test_file)
    assert 0 == result.returncode, result.stdout + result.stderr


def test_promtool_rejects_a_deliberately_wrong_expectation(tmp_path: Path) -> None:
    alerts = _expected_alerts(DIFFERENTIAL_TEMPLATES)
    annotations = alerts[0]["exp_annotations"]
    assert isinstance(annotations, dict)
    annotations["t00"] += " wrong"
    result = _promtool_test_rules(_write_promtool_files(tmp_path, DIFFERENTIAL_TEMPLATES, alerts))
    assert 1 == result.returncode, result.stdout + result.stderr
