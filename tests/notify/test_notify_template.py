"""Alertmanager's template model: named templates, the data, the functions, and their failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config.receivers import EmailConfig, SlackConfig, SlackField
from agent.config.types import Secret
from agent.gotemplate import BUILTINS, TemplateError, TemplateSet, parse
from agent.model import Alert
from agent.notify.template import DEFAULT_TEMPLATES, Data, load_templates, template_data, template_errors
from tests.notify.test_notify_http import firing, notification, resolved

EXTERNAL_URL = "http://tripwired.example:9842"


def data(*alerts: Alert) -> Data:
    alerts = alerts or (firing(instance="db1", severity="critical"),)
    return template_data(notification(*alerts), alerts, EXTERNAL_URL)


def test_a_users_define_replaces_alertmanagers_default(tmp_path: Path) -> None:
    (tmp_path / "mine.tmpl").write_text('{{ define "__subject" }}mine: {{ .Status }}{{ end }}')
    templates = load_templates(["*.tmpl"], str(tmp_path))
    assert "mine: firing" == templates.text('{{ template "slack.default.title" . }}', data())


def test_an_empty_define_does_not_replace_a_full_one(tmp_path: Path) -> None:
    (tmp_path / "a.tmpl").write_text('{{ define "x" }}full{{ end }}')
    (tmp_path / "b.tmpl").write_text('{{ define "x" }}  {{ end }}')
    assert "full" == load_templates(["*.tmpl"], str(tmp_path)).text('{{ template "x" }}', data())


def test_a_glob_matching_nothing_is_allowed(tmp_path: Path) -> None:
    assert "[FIRING:1] DiskFull (db1 critical)" == load_templates(["none/*.tmpl"], str(tmp_path)).text(
        '{{ template "__subject" . }}', data()
    )


def test_a_parse_error_names_the_file_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "bad.tmpl").write_text('{{ define "x" }}\n  {{ .Status | nope }}{{ end }}')
    with pytest.raises(TemplateError, match=r"bad\.tmpl:2:16: function \"nope\" not defined"):
        load_templates(["*.tmpl"], str(tmp_path))


def test_sorted_pairs_put_alertname_first() -> None:
    text = "{{ range .CommonLabels.SortedPairs }}{{ .Name }}={{ .Value }};{{ end }}"
    assert "alertname=DiskFull;instance=db1;severity=critical;" == DEFAULT_TEMPLATES.text(text, data())


def test_remove_names_values_and_join() -> None:
    text = '{{ (.CommonLabels.Remove .GroupLabels.Names).Values | join "," }}'
    assert "db1,critical" == DEFAULT_TEMPLATES.text(text, data())


def test_firing_and_resolved_split_the_alerts() -> None:
    both = data(firing(instance="a"), resolved(firing(instance="b")))
    text = "{{ len .Alerts.Firing }}/{{ len .Alerts.Resolved }} "
    text += "{{ range .Alerts.Resolved }}{{ .Labels.instance }}{{ end }}"
    assert "1/1 b" == DEFAULT_TEMPLATES.text(text, both)


def test_functions_of_alertmanager() -> None:
    text = (
        '{{ toUpper "a" }}{{ toLower "B" }} {{ title "hELLO wORLD" }} {{ trimSpace "  x " }} '
        '{{ match "^d.*1$" "db1" }} {{ reReplaceAll "(db)(\\\\d)" "$2-$1" "db1" }} {{ stringSlice "a" "b" }}'
    )
    assert "Ab Hello World x true 1-db [a b]" == DEFAULT_TEMPLATES.text(text, data())


def test_html_escapes_printed_values_but_not_safe_html_or_the_template_text() -> None:
    text = '<!-- dropped --><p>{{ "<b>&" }} {{ "<i>" | safeHtml }}</p>'
    assert "<p>&lt;b&gt;&amp; <i></p>" == DEFAULT_TEMPLATES.html(text, data())


def test_an_unknown_template_fails_at_run_time_not_at_parse_time() -> None:
    template = DEFAULT_TEMPLATES.templates.parse('{{ template "nope" . }}')
    with pytest.raises(TemplateError, match='no such template "nope"'):
        template.execute(data())


def test_a_recursive_define_is_bounded() -> None:
    templates = TemplateSet(BUILTINS)
    templates.add('{{ define "loop" }}x{{ template "loop" . }}{{ end }}', "loop.tmpl")
    with pytest.raises(TemplateError, match="maximum template depth"):
        templates.parse('{{ template "loop" . }}').execute(None)


def test_block_defines_and_runs_in_place() -> None:
    templates = TemplateSet(BUILTINS)
    assert "[x]" == templates.parse('[{{ block "b" . }}{{ .k }}{{ end }}]').execute({"k": "x"})


def test_rule_templates_still_refuse_define() -> None:
    with pytest.raises(TemplateError, match="not supported by tripwired in alert templates"):
        parse('{{ define "x" }}{{ end }}')


def test_secrets_are_not_read_as_templates() -> None:
    config = EmailConfig(to="a@example.com", from_="b@example.com", smarthost="h:25", auth_password=Secret("p{{w"))
    assert [] == template_errors(DEFAULT_TEMPLATES, config, "receivers[0].email_configs[0]")


def test_a_field_that_does_not_parse_is_named() -> None:
    config = SlackConfig(api_url=Secret("http://h/x"), fields=[SlackField("t", "{{ .Status ")])
    assert ["receivers[0].slack_configs[0].fields[0].value: template: 1:12: unclosed action"] == template_errors(
        DEFAULT_TEMPLATES, config, "receivers[0].slack_configs[0]"
    )
