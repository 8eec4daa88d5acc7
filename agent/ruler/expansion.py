"""Label and annotation templates of one rule group, expanded without ever failing an evaluation."""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from agent.ruler.template import TemplateError, expand

log = structlog.get_logger(__name__)


class TemplateExpander:
    """Expands rule templates with the group's external labels and URL (an `Expander`).

    A template that fails at run time leaves its raw text in place and is logged, so a
    typo in an annotation never hides the alert itself.
    """

    def __init__(self, rule: str, external_labels: Mapping[str, str], external_url: str) -> None:
        self.rule = rule
        self.external_labels = dict(external_labels)
        self.external_url = external_url

    def __call__(self, text: str, labels: Mapping[str, str], value: float) -> str:
        if "{{" not in text:
            return text
        try:
            return expand(text, labels=labels, value=value, external_labels=self.external_labels,
                          external_url=self.external_url)
        except TemplateError as exc:
            log.warning("template_expansion_failed", rule=self.rule, template=text, error=str(exc))
            return text
