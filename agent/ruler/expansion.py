"""Label and annotation templates of one rule group, expanded without ever failing an evaluation."""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from agent.ruler.alert_template import AlertTemplate, TemplateError, parse_template

log = structlog.get_logger(__name__)

EXPANSION_CACHE_SIZE = 1024


class TemplateExpander:
    """Expands rule templates with the group's external labels and URL (an `Expander`).

    A template that fails at run time leaves its raw text in place and is logged, so a
    typo in an annotation never hides the alert itself.
    """

    def __init__(self, rule: str, external_labels: Mapping[str, str], external_url: str) -> None:
        self.rule = rule
        self.external_labels = dict(external_labels)
        self.external_url = external_url
        # Parsed once per rule, not per alert and evaluation: parsing was 80 % of evaluation time.
        self._parsed: dict[str, AlertTemplate | TemplateError] = {}
        # Expansion is a pure function of (text, labels, value): an alert whose value did not move
        # since the last evaluation gets last time's text back. Bounded; cleared when full.
        self._expanded: dict[tuple[str, tuple[tuple[str, str], ...], float], str] = {}

    def __call__(self, text: str, labels: Mapping[str, str], value: float) -> str:
        """Expand `text` for one sample, from the cache when seen before.

        A template that fails to parse or execute is logged (`template_expansion_failed`) and its text is
        returned as written, so the alert still goes out.
        """
        if "{{" not in text:
            return text
        key = (text, tuple(labels.items()), value)
        cached = self._expanded.get(key)
        if cached is not None:
            return cached
        try:
            template = self._template(text)
            result = template.expand(
                labels=labels, value=value, external_labels=self.external_labels, external_url=self.external_url
            )
        except TemplateError as exc:
            log.warning("template_expansion_failed", rule=self.rule, template=text, error=str(exc))
            return text
        if len(self._expanded) >= EXPANSION_CACHE_SIZE:
            self._expanded.clear()
        self._expanded[key] = result
        return result

    def _template(self, text: str) -> AlertTemplate:
        parsed = self._parsed.get(text)
        if parsed is None:
            try:
                parsed = parse_template(text)
            except TemplateError as exc:
                parsed = exc
            self._parsed[text] = parsed
        if isinstance(parsed, TemplateError):
            raise parsed
        return parsed
