"""Template expansion during evaluation never fails the evaluation."""

from __future__ import annotations

from agent.ruler.expansion import TemplateExpander


def test_templates_see_labels_value_external_labels_and_url() -> None:
    expand = TemplateExpander("r;g;A", {"site": "eu"}, "http://tw")
    text = "{{ $labels.instance }} {{ $value }} {{ $externalLabels.site }} {{ $externalURL }}"
    assert "a 2.5 eu http://tw" == expand(text, {"instance": "a"}, 2.5)


def test_failing_template_leaves_its_raw_text() -> None:
    expand = TemplateExpander("r;g;A", {}, "")
    text = "{{ $value | humanizeDuration | nosuchfunction }}"
    assert text == expand(text, {}, 1.0)


def test_text_without_actions_is_returned_as_is() -> None:
    assert "plain" == TemplateExpander("r;g;A", {}, "")("plain", {}, 1.0)


def test_failing_template_is_logged_with_the_rule() -> None:
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        TemplateExpander("r;g;A", {}, "")("{{ nosuchfunction }}", {}, 1.0)
    assert [("template_expansion_failed", "r;g;A")] == [(e["event"], e["rule"]) for e in logs]
