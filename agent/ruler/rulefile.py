"""Prometheus rule files -> typed groups and rules, every mistake reported at once.

The YAML is composed into PyYAML nodes (which keep line and column) and walked by hand,
so each error can say where it is and which rule it is about:
`rules.yaml:12:5: group "storage", rule 2, "DiskFull": invalid field 'for' in recording rule`.
The schema is model/rulefmt's; unknown keys are refused as promtool refuses them. Group
`labels` (newer Prometheus) are accepted and merged under each rule's own labels.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from agent.gocompat.duration import parse_duration
from agent.promql import DEFAULT_SEMANTICS, PromQLCompat, PromQLError, Semantics, parse_expr, unsupported
from agent.ruler.alert_template import check_template

METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

_GROUP_KEYS = frozenset({"name", "interval", "limit", "labels", "rules"})
_GROUP_KEYS_3 = _GROUP_KEYS | {"query_offset"}  # Prometheus 3 (2.53 on) evaluates a group that far back
_RULE_KEYS = frozenset({"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"})
_NULL_TAG = "tag:yaml.org,2002:null"

Pairs = tuple[tuple[str, str], ...]


class RuleKind(enum.Enum):
    """Whether a rule records a series or raises an alert."""

    RECORD = "recording"
    ALERT = "alerting"


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One validated rule as written in its file (labels and annotations unexpanded)."""

    kind: RuleKind
    name: str
    expr: str
    hold_ms: int
    keep_firing_for_ms: int
    labels: Pairs
    annotations: Pairs
    index: int  # 1-based, as in error messages
    line: int = field(default=0, compare=False)  # moving a rule does not change it


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """One validated rule group and the file it came from."""

    file: str
    name: str
    interval_ms: int | None  # None: the configured evaluation interval
    limit: int
    rules: tuple[RuleSpec, ...]
    query_offset_ms: int = 0

    @property
    def key(self) -> str:
        """Prometheus' group identity, `file;group` (the rule_group label)."""
        return f"{self.file};{self.name}"


class RuleFileError(Exception):
    """Rule files that cannot be used; `errors` holds every message, each with file and line."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)


def load_rule_files(paths: Sequence[str], semantics: Semantics = DEFAULT_SEMANTICS) -> list[GroupSpec]:
    """Read and validate several rule files, raising one RuleFileError with all their errors."""
    groups: list[GroupSpec] = []
    errors: list[str] = []
    for path in paths:
        try:
            groups.extend(load_rule_file(path, semantics))
        except RuleFileError as exc:
            errors.extend(exc.errors)
    if errors:
        raise RuleFileError(errors)
    return groups


def load_rule_file(path: str, semantics: Semantics = DEFAULT_SEMANTICS) -> list[GroupSpec]:
    """Read and validate one rule file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleFileError([f"{path}: cannot read rule file: {exc.strerror}"]) from exc
    return parse_rule_text(text, path, semantics)


def parse_rule_text(text: str, filename: str, semantics: Semantics = DEFAULT_SEMANTICS) -> list[GroupSpec]:
    """Validate the text of a rule file; `filename` prefixes every error."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{mark.line + 1}:{mark.column + 1}" if mark is not None else "1:1"
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleFileError([f"{filename}:{where}: invalid YAML: {problem}"]) from exc
    except RecursionError as exc:  # PyYAML composes recursively
        raise RuleFileError([f"{filename}:1:1: invalid YAML: nested too deeply"]) from exc
    parser = _FileParser(filename, semantics)
    groups = parser.file(root)
    if parser.errors:
        raise RuleFileError(parser.errors)
    return groups


def _where(node: yaml.Node) -> str:
    return f"{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _is_null(node: yaml.Node | None) -> bool:
    return node is None or node.tag == _NULL_TAG


class _FileParser:
    """Walks one file's nodes, collecting errors instead of stopping at the first."""

    def __init__(self, filename: str, semantics: Semantics) -> None:
        self.filename = filename
        self.semantics = semantics
        self.errors: list[str] = []

    def error(self, node: yaml.Node, context: str, message: str) -> None:
        self.errors.append(f"{self.filename}:{_where(node)}: {context}{message}")

    def file(self, root: yaml.Node | None) -> list[GroupSpec]:
        if root is None or _is_null(root):
            return []
        fields = self.mapping(root, frozenset({"groups"}), "")
        groups_node = fields.get("groups")
        if groups_node is None:
            return []
        groups: list[GroupSpec] = []
        seen: set[str] = set()
        for node in self.sequence(groups_node, "groups: "):
            group = self.group(node)
            if group is None:
                continue
            if group.name in seen:
                self.error(node, "", f'groupname: "{group.name}" is repeated in the same file')
            seen.add(group.name)
            groups.append(group)
        return groups

    def mapping(self, node: yaml.Node, known: frozenset[str], context: str) -> dict[str, yaml.Node]:
        """The fields of a mapping node; unknown and repeated keys are reported."""
        if _is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.error(node, context, "expected a mapping")
            return {}
        fields: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key not in known:
                self.error(key_node, context, f"field {key} not found (known: {', '.join(sorted(known))})")
            elif key in fields:
                self.error(key_node, context, f"field {key} is repeated")
            else:
                fields[key] = value_node
        return fields

    def sequence(self, node: yaml.Node | None, context: str) -> list[yaml.Node]:
        if node is None or _is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, context, "expected a list")
            return []
        return list(node.value)

    def scalar(self, node: yaml.Node | None, context: str) -> str | None:
        if node is None or _is_null(node):
            return None
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, context, "expected a single value, not a list or mapping")
            return None
        return str(node.value)

    def duration(self, node: yaml.Node | None, context: str, field: str) -> int | None:
        text = self.scalar(node, context)
        if text is None or node is None:
            return None
        try:
            return parse_duration(text)
        except ValueError as exc:
            self.error(node, context, f"{field}: {exc}")
            return None

    def pairs(self, node: yaml.Node | None, context: str) -> list[tuple[yaml.Node, str, str]]:
        """Key node, key and value of a string-to-string mapping (labels, annotations)."""
        if node is None or _is_null(node):
            return []
        if not isinstance(node, yaml.MappingNode):
            self.error(node, context, "expected a mapping of names to strings")
            return []
        out = []
        for key_node, value_node in node.value:
            value = self.scalar(value_node, context)
            out.append((key_node, str(key_node.value), "" if value is None else value))
        return out

    def group(self, node: yaml.Node) -> GroupSpec | None:
        v3 = self.semantics.compat >= PromQLCompat.V3
        fields = self.mapping(node, _GROUP_KEYS_3 if v3 else _GROUP_KEYS, "")
        name = self.scalar(fields.get("name"), "") or ""
        if not name:
            self.error(fields.get("name", node), "", "Groupname must not be empty")
        context = f'group "{name}": '
        interval = self.duration(fields.get("interval"), context, "interval")
        limit = self.limit(fields.get("limit"), context)
        group_labels = self.label_pairs(fields.get("labels"), context)
        rules = [
            rule
            for index, rule_node in enumerate(self.sequence(fields.get("rules"), context), start=1)
            if (rule := self.rule(rule_node, name, index, group_labels)) is not None
        ]
        offset = self.duration(fields.get("query_offset"), context, "query_offset") or 0
        return GroupSpec(self.filename, name, interval or None, limit, tuple(rules), offset)

    def limit(self, node: yaml.Node | None, context: str) -> int:
        text = self.scalar(node, context)
        if text is None or node is None:
            return 0
        try:
            return max(int(text), 0)
        except ValueError:
            self.error(node, context, f"limit: expected an integer, got {text!r}")
            return 0

    def label_pairs(self, node: yaml.Node | None, context: str) -> Pairs:
        labels = []
        for key_node, key, value in self.pairs(node, context):
            if not LABEL_NAME.match(key) or key == "__name__":
                self.error(key_node, context, f"invalid label name: {key}")
            labels.append((key, value))
        return tuple(labels)

    def rule(self, node: yaml.Node, group: str, index: int, group_labels: Pairs) -> RuleSpec | None:
        context = f'group "{group}", rule {index}, "{_rule_name(node)}": '
        fields = self.mapping(node, _RULE_KEYS, context)
        alert = self.scalar(fields.get("alert"), context)
        record = self.scalar(fields.get("record"), context)
        name = alert or record or ""
        expr = self.expression(node, fields.get("expr"), context)
        kind = self.rule_kind(node, fields, context, alert, record)
        hold = self.duration(fields.get("for"), context, "for") or 0
        keep = self.duration(fields.get("keep_firing_for"), context, "keep_firing_for") or 0
        labels = dict(group_labels)
        labels.update(self.label_pairs(fields.get("labels"), context))
        annotations = self.annotations(fields.get("annotations"), context)
        if alert:
            self.templates(fields, context)  # recording rules' labels are not templates
        if kind is None or expr is None:
            return None
        return RuleSpec(
            kind, name, expr, hold, keep, tuple(labels.items()), annotations, index, node.start_mark.line + 1
        )

    def rule_kind(
        self, node: yaml.Node, fields: dict[str, yaml.Node], context: str, alert: str | None, record: str | None
    ) -> RuleKind | None:
        if alert and record:
            self.error(node, context, "only one of 'record' and 'alert' must be set")
            return None
        if not alert and not record:
            self.error(node, context, "one of 'record' or 'alert' must be set")
            return None
        if alert:
            return RuleKind.ALERT
        for key in ("for", "keep_firing_for", "annotations"):
            if key in fields:
                self.error(fields[key], context, f"invalid field '{key}' in recording rule")
        if record and not METRIC_NAME.match(record):
            self.error(fields["record"], context, f"invalid recording rule name: {record}")
        return RuleKind.RECORD

    def expression(self, rule_node: yaml.Node, node: yaml.Node | None, context: str) -> str | None:
        text = self.scalar(node, context)
        if node is None or not text:
            self.error(rule_node if node is None else node, context, "field 'expr' must be set in rule")
            return None
        try:
            parsed = parse_expr(text, self.semantics)
        except PromQLError as exc:
            self.error(node, context, f"could not parse expression: {exc}")
            return None
        missing = unsupported(parsed, self.semantics)
        if missing:
            self.error(node, context, f"not supported by tripwired: {', '.join(missing)}")
            return None
        return text

    def annotations(self, node: yaml.Node | None, context: str) -> Pairs:
        out = []
        for key_node, key, value in self.pairs(node, context):
            if not LABEL_NAME.match(key):
                self.error(key_node, context, f"invalid annotation name: {key}")
            out.append((key, value))
        return tuple(out)

    def templates(self, fields: dict[str, yaml.Node], context: str) -> None:
        for section, what in (("labels", "label"), ("annotations", "annotation")):
            for key_node, key, value in _quiet_pairs(fields.get(section)):
                problem = check_template(value)
                if problem is not None:
                    self.error(key_node, context, f'{what} "{key}": {problem}')


def _rule_name(node: yaml.Node) -> str:
    """The alert or record name of a rule node, for messages about its other fields."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value in ("alert", "record") and isinstance(value_node, yaml.ScalarNode):
                return str(value_node.value)
    return ""


def _quiet_pairs(node: yaml.Node | None) -> Iterator[tuple[yaml.Node, str, str]]:
    """Key node, key and scalar value of a mapping, without reporting (already reported once)."""
    if not isinstance(node, yaml.MappingNode):
        return
    for key_node, value_node in node.value:
        if isinstance(value_node, yaml.ScalarNode) and not _is_null(value_node):
            yield key_node, str(key_node.value), str(value_node.value)
