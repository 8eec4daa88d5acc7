"""A YAML file as PyYAML nodes (which keep line and column), and the errors found in it.

Every error of every schema-checked file (config, rule files, rule-test files, routing tests)
is one string `file:line[:column]: path: message`, collected in a `Report` and raised together
as one `SchemaError`. A `Style` says how a family of files words them: the config keeps its own
(`unknown field 'x'`), rule and rule-test files follow promtool (`field x not found`, columns,
repeated keys refused as Go's yaml refuses them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

NULL_TAG = "tag:yaml.org,2002:null"
MAX_ALIAS_EXPANSION = 10  # expanded nodes per written node, beyond a small document
_SMALL_DOCUMENT_NODES = 10_000
_PATH_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class SchemaError(Exception):
    """A file that cannot be used; `errors` holds one `file:line: path: message` each."""

    def __init__(self, errors: Sequence[str]) -> None:
        """Raise every error of a file (or several files) at once."""
        super().__init__("\n".join(errors))
        self.errors = list(errors)


@dataclass(frozen=True)
class Style:
    """How one family of files words its errors."""

    columns: bool = False  # `file:line:column:` rather than `file:line:`
    unknown_field: str = "unknown field {key!r} (known: {known})"
    reject_repeated_keys: bool = False  # Go's yaml (promtool) refuses `a: 1` written twice in a mapping

    def unknown(self, key: str, known: Sequence[str]) -> str:
        """The message for a key the schema does not have."""
        return self.unknown_field.format(key=key, known=", ".join(sorted(known)))


CONFIG_STYLE = Style()
PROMTOOL_STYLE = Style(columns=True, unknown_field="field {key} not found (known: {known})", reject_repeated_keys=True)


class Report:
    """The errors found in one file, each with the file, the node's position and a field path."""

    def __init__(self, filename: str, style: Style = CONFIG_STYLE) -> None:
        """Errors of `filename`, worded in `style`."""
        self.filename = filename
        self.style = style
        self.errors: list[str] = []

    def position(self, node: yaml.Node | None) -> str:
        """`line` or `line:column` (1-based) of a node; the file's start when there is none."""
        mark = node.start_mark if node is not None else None
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        return f"{line}:{column}" if self.style.columns else str(line)

    def error(self, node: yaml.Node | None, path: str, message: str) -> None:
        """Record one error at `node`; `path` names the field (or, in rule files, the rule)."""
        where = f" {path}:" if path else ""
        self.errors.append(f"{self.filename}:{self.position(node)}:{where} {message}")

    def error_at(self, root: yaml.Node | None, path: str, message: str) -> None:
        """Record an error found after the walk (a route's undefined receiver) at the node its path names."""
        self.error(locate(root, path), path, message)

    def raise_if_any(self) -> None:
        """Raise every recorded error as one SchemaError."""
        if self.errors:
            raise SchemaError(self.errors)


def read_document(path: str | Path, what: str) -> str:
    """The text of a file; a SchemaError naming the file (and the line of a byte that is not UTF-8)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SchemaError([f"{path}: cannot read {what}: {exc.strerror}"]) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SchemaError([f"{path}:{line}: invalid YAML: byte 0x{data[exc.start]:02x} is not UTF-8 text"]) from exc


def has_content(text: str) -> bool:
    """Whether the text holds a YAML document at all (comments and blank lines do not count)."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader) is not None
    except yaml.YAMLError:
        return True  # not empty: compose() reports the error with its line


def compose(text: str, report: Report) -> yaml.Node | None:
    """The document's root node, or None for an empty one; SchemaError when it is not YAML to walk.

    Aliases that refer to themselves or multiply the document are refused (Go's yaml.v3, which
    Prometheus uses, refuses both); in a strict style, so are keys written twice in a mapping.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        _check_aliases(root)
    except yaml.YAMLError as exc:
        raise SchemaError(
            [f"{report.filename}:{_yaml_error_position(exc, text, report)}: invalid YAML: {_yaml_problem(exc)}"]
        ) from exc
    except RecursionError as exc:  # PyYAML composes recursively
        raise SchemaError([f"{report.filename}:{report.position(None)}: invalid YAML: nested too deeply"]) from exc
    if report.style.reject_repeated_keys:
        _report_repeated_keys(root, report)
    return root


def locate(root: yaml.Node | None, path: str) -> yaml.Node | None:
    """The node a field path (`route.routes[1].receiver`) names, or its nearest ancestor in the document."""
    return _walk_path(root, path)[0]


def find(root: yaml.Node | None, path: str) -> yaml.Node | None:
    """The node a field path names; None when the document does not have it."""
    node, complete = _walk_path(root, path)
    return node if complete else None


def _walk_path(root: yaml.Node | None, path: str) -> tuple[yaml.Node | None, bool]:
    node = root
    for match in _PATH_STEP.finditer(path):
        child = _child(node, *match.groups())
        if child is None:
            return node, False
        node = child
    return node, True


def _child(node: yaml.Node | None, key: str | None, index: str | None) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and key is not None:
        return next((value for k, value in reversed(node.value) if str(k.value) == key), None)
    if isinstance(node, yaml.SequenceNode) and index is not None and int(index) < len(node.value):
        item: yaml.Node = node.value[int(index)]
        return item
    return None


def _yaml_error_position(exc: yaml.YAMLError, text: str, report: Report) -> str:
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        line, column = mark.line + 1, mark.column + 1
    elif isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow, by offset
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
    else:
        line, column = 1, 1
    return f"{line}:{column}" if report.style.columns else str(line)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        return f"unacceptable character #x{exc.character:04x}: special characters are not allowed"
    return str(getattr(exc, "problem", None) or exc)


def _report_repeated_keys(root: yaml.Node | None, report: Report) -> None:
    for node, path in _mappings(root, ""):
        seen: dict[str, yaml.Node] = {}
        for key_node, _ in node.value:
            key = str(key_node.value)
            if key in seen:
                first = seen[key].start_mark.line + 1
                report.error(key_node, _join(path, key), f'mapping key "{key}" already defined at line {first}')
            else:
                seen[key] = key_node


def _mappings(node: yaml.Node | None, path: str) -> Iterator[tuple[yaml.MappingNode, str]]:
    """Every mapping node of a (checked, alias-safe) document with its field path."""
    if isinstance(node, yaml.MappingNode):
        yield node, path
        for key_node, value_node in node.value:
            yield from _mappings(value_node, _join(path, str(key_node.value)))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _mappings(item, f"{path}[{index}]")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _check_aliases(root: yaml.Node | None) -> None:
    """Refuse an alias that refers to itself, and aliases that multiply the document (a "billion laughs").

    Walking either would never end.
    """
    if root is None:
        return
    sizes: dict[int, int] = {}
    limit = _SMALL_DOCUMENT_NODES * MAX_ALIAS_EXPANSION

    def size(node: yaml.Node, open_nodes: set[int]) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise _AliasError(node, "an alias refers to a node that contains it")
        open_nodes.add(key)
        total = 1 + sum(size(child, open_nodes) for child in _children(node))
        open_nodes.discard(key)
        sizes[key] = min(total, limit + 1)
        return sizes[key]

    expanded = size(root, set())
    if expanded > max(_SMALL_DOCUMENT_NODES, MAX_ALIAS_EXPANSION * len(sizes)):
        raise _AliasError(root, f"aliases expand the document more than {MAX_ALIAS_EXPANSION} times")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


class _AliasError(yaml.YAMLError):
    """A document whose aliases cannot be walked to an end."""

    def __init__(self, node: yaml.Node, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = node.start_mark
