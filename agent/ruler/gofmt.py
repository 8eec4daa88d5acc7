"""How Go prints labels and multi-line values, so our rule-test failures read like promtool's."""

from __future__ import annotations

from agent.model import Labels, go_quote


def labels_string(labels: Labels) -> str:
    """labels.Labels.String(): `{a="1", b="2"}`, in the order given."""
    return "{" + ", ".join(f"{name}={go_quote(value)}" for name, value in labels) + "}"


def indent_lines(text: str, indent: str) -> str:
    """promtool's indentLines: every line but the first prefixed with `indent`."""
    lines = text.split("\n")
    return "\n".join([lines[0], *(indent + line for line in lines[1:])])
