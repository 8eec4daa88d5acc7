"""Alert label and annotation templates, expanded as Prometheus 2.42 expands them.

Prometheus runs alert templates through Go's text/template (agent.gotemplate here) with
its function map (template_functions) after prepending four variable declarations
(rules/alerting.go). Functions that need a Prometheus server (query, first, label, ...)
are refused by name when a template is parsed, so a rule file using them fails at load time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from agent import gotemplate
from agent.gotemplate import GoStruct, TemplateError, Value
from agent.ruler.template_functions import FUNCTIONS, REFUSED

__all__ = ["AlertTemplate", "TemplateError", "check_template", "expand", "parse_template"]

# Prometheus prepends these declarations to every alert template (rules/alerting.go).
PROMETHEUS_DEFS = (
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"
)


@dataclass(frozen=True)
class AlertData(GoStruct):
    """The data Prometheus hands to an alert template (template.AlertTemplateData)."""

    go_type_name: ClassVar[str] = (
        "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }"
    )

    labels: Mapping[str, str]
    external_labels: Mapping[str, str]
    external_url: str
    value: float

    def go_field(self, name: str) -> Value:
        """Read a field by its Go name; None if the Go struct has no such field."""
        fields: dict[str, Value] = {
            "Labels": self.labels,
            "ExternalLabels": self.external_labels,
            "ExternalURL": self.external_url,
            "Value": self.value,
        }
        return fields.get(name)

    def go_fields(self) -> list[Value]:
        """The fields in the Go struct's declaration order, for printing."""
        return [self.labels, self.external_labels, self.external_url, self.value]


@dataclass(frozen=True)
class AlertTemplate:
    """A parsed alert template, ready to be expanded for many alerts."""

    text: str
    parsed: gotemplate.Template

    def expand(
        self, *, labels: Mapping[str, str], value: float, external_labels: Mapping[str, str], external_url: str
    ) -> str:
        """Expand for one alert; raises TemplateError as Prometheus would report an expansion error."""
        return self.parsed.execute(AlertData(dict(labels), dict(external_labels), external_url, float(value)))


def parse_template(text: str) -> AlertTemplate:
    """Parse an alert label or annotation template; raises TemplateError naming the problem."""
    return AlertTemplate(text, gotemplate.parse(text, FUNCTIONS, refused=REFUSED, prelude=PROMETHEUS_DEFS))


def check_template(text: str) -> str | None:
    """Return None if the template parses, else the error message (used when rules are loaded)."""
    try:
        parse_template(text)
    except TemplateError as exc:
        return str(exc)
    return None


def expand(
    text: str, *, labels: Mapping[str, str], value: float, external_labels: Mapping[str, str], external_url: str
) -> str:
    """Expand an alert template as Prometheus 2.42 does; raises TemplateError."""
    return parse_template(text).expand(
        labels=labels, value=value, external_labels=external_labels, external_url=external_url
    )
