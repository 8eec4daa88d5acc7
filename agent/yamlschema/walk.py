"""Reading YAML nodes as the schema expects them: each mistake is reported at its node, then skipped.

A Walker never stops at the first error: a wrong value is reported and read as missing, so one
run lists every mistake in the file.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TypeVar

import yaml

from agent.yamlschema.document import NULL_TAG, Report

T = TypeVar("T")


def is_null(node: yaml.Node | None) -> bool:
    """Whether the node is absent or an explicit null (`~`, `null`, nothing after the colon)."""
    return node is None or node.tag == NULL_TAG


def kind(node: yaml.Node | None) -> str:
    """What a node is, for `expected X, got Y` messages."""
    if is_null(node):
        return "nothing"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return repr(node.value) if node is not None else "nothing"


def join(path: str, key: str) -> str:
    """The field path of `key` under `path` (`web.listen_address`)."""
    return f"{path}.{key}" if path else key


class Walker:
    """Typed reads of the nodes of one file, reporting into its Report."""

    def __init__(self, report: Report) -> None:
        """Report into `report`."""
        self.report = report

    def error(self, node: yaml.Node | None, path: str, message: str) -> None:
        """Record one error at `node`."""
        self.report.error(node, path, message)

    def mapping(self, node: yaml.Node | None, known: Collection[str], path: str) -> dict[str, yaml.Node]:
        """The fields of a mapping with known keys; unknown keys are reported and left out."""
        fields: dict[str, yaml.Node] = {}
        for key_node, value_node in self.pairs(node, path):
            key = str(key_node.value)
            if key in known:
                fields[key] = value_node
            else:
                self.error(key_node, path, self.report.style.unknown(key, list(known)))
        return fields

    def pairs(self, node: yaml.Node | None, path: str) -> list[tuple[yaml.Node, yaml.Node]]:
        """Key and value nodes of a mapping (none for a null); an error for anything else."""
        if is_null(node):
            return []
        if not isinstance(node, yaml.MappingNode):
            self.error(node, path, f"expected a mapping, got {kind(node)}")
            return []
        return list(node.value)

    def sequence(self, node: yaml.Node | None, path: str) -> list[yaml.Node]:
        """The items of a list (none for a null); an error for anything else."""
        if is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, path, f"expected a list, got {kind(node)}")
            return []
        return list(node.value)

    def scalar(self, node: yaml.Node | None, path: str) -> str | None:
        """The text of a single value (None for a null); an error for a list or a mapping."""
        if node is None or is_null(node):
            return None
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, path, f"expected a single value, got {kind(node)}")
            return None
        return str(node.value)

    def strings(self, node: yaml.Node | None, path: str) -> list[tuple[yaml.Node, str, str]]:
        """Key node, key and text value of a mapping of names to strings (labels, annotations)."""
        out = []
        for key_node, value_node in self.pairs(node, path):
            value = self.scalar(value_node, join(path, str(key_node.value)))
            out.append((key_node, str(key_node.value), "" if value is None else value))
        return out

    def parsed(self, node: yaml.Node | None, path: str, parse: Callable[[str], T]) -> T | None:
        """A single value read by `parse` (a duration, a number); its ValueError becomes the error."""
        text = self.scalar(node, path)
        if text is None:
            return None
        try:
            return parse(text)
        except ValueError as exc:
            self.error(node, path, str(exc))
            return None
