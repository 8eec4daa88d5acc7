"""Prometheus rule files -> typed groups and rules, every mistake reported at once.

The YAML is composed and walked by the schema layer (agent/yamlschema), which keeps line and
column, so each error can say where it is and which rule it is about:
`rules.yaml:12:5: group "storage", rule 2, "DiskFull": invalid field 'for' in recording rule`.
The schema is model/rulefmt's; unknown keys are refused as promtool refuses them. Group
`labels` (newer Prometheus) are accepted and merged under each rule's own labels.
"""

from __future__ import annotations

import enum
import glob
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import yaml

from agent.gocompat.duration import parse_duration
from agent.promql import DEFAULT_SEMANTICS, PromQLCompat, PromQLError, Semantics, parse_expr, unsupported
from agent.ruler.alert_template import check_template
from agent.yamlschema import PROMTOOL_STYLE, Report, SchemaError, Walker, compose, is_null, read_document

METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

_GROUP_KEYS = frozenset({"name", "interval", "limit", "labels", "rules"})
_GROUP_KEYS_3 = _GROUP_KEYS | {"query_offset"}  # Prometheus 3 (2.53 on) evaluates a group that far back
_RULE_KEYS = frozenset({"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"})

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


# The one error type of the schema layer (agent/yamlschema), under the name the ruler's callers know.
RuleFileError = SchemaError


def expand_rule_globs(patterns: Sequence[str]) -> list[str]:
    """The files `rule_files` names, each once, in order.

    A glob that matches nothing (an empty `rules.d/*.yaml`) names no file, as in Prometheus; a plain
    path stays a path even when the file is missing, so a typo is an error when it is read rather
    than silently no rules.
    """
    matches = (sorted(glob.glob(p)) if glob.has_magic(p) else [p] for p in patterns)
    return list(dict.fromkeys(path for paths in matches for path in paths))


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
    return parse_rule_text(read_document(path, "rule file"), path, semantics)


def parse_rule_text(text: str, filename: str, semantics: Semantics = DEFAULT_SEMANTICS) -> list[GroupSpec]:
    """Validate the text of a rule file; `filename` prefixes every error."""
    report = Report(filename, PROMTOOL_STYLE)
    root = compose(text, report)
    groups = _FileParser(Walker(report), filename, semantics).file(root)
    report.raise_if_any()
    return groups


def _field(context: str, key: str) -> str:
    """Where an error about one field of a group or rule is: `group "g", rule 1, "A": for`."""
    return f"{context}: {key}" if context else key


def _parse_limit(text: str) -> int:
    try:
        return max(int(text), 0)
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None


class _FileParser:
    """Walks one file's nodes; the walker collects errors instead of stopping at the first."""

    def __init__(self, walk: Walker, filename: str, semantics: Semantics) -> None:
        self.walk = walk
        self.filename = filename
        self.semantics = semantics

    def error(self, node: yaml.Node, context: str, message: str) -> None:
        self.walk.error(node, context, message)

    def file(self, root: yaml.Node | None) -> list[GroupSpec]:
        fields = self.walk.mapping(root, frozenset({"groups"}), "")
        groups: list[GroupSpec] = []
        seen: set[str] = set()
        for node in self.walk.sequence(fields.get("groups"), "groups"):
            group = self.group(node)
            if group.name in seen:
                self.error(node, "", f'groupname: "{group.name}" is repeated in the same file')
            seen.add(group.name)
            groups.append(group)
        return groups

    def duration(self, node: yaml.Node | None, context: str, key: str) -> int | None:
        return self.walk.parsed(node, _field(context, key), parse_duration)

    def group(self, node: yaml.Node) -> GroupSpec:
        v3 = self.semantics.compat >= PromQLCompat.V3
        fields = self.walk.mapping(node, _GROUP_KEYS_3 if v3 else _GROUP_KEYS, "")
        name = self.walk.scalar(fields.get("name"), "name") or ""
        if not name:
            self.error(fields.get("name", node), "", "Groupname must not be empty")
        context = f'group "{name}"'
        interval = self.duration(fields.get("interval"), context, "interval")
        limit = self.walk.parsed(fields.get("limit"), _field(context, "limit"), _parse_limit) or 0
        group_labels = self.label_pairs(fields.get("labels"), context)
        rules = [
            rule
            for index, rule_node in enumerate(self.walk.sequence(fields.get("rules"), _field(context, "rules")), 1)
            if (rule := self.rule(rule_node, name, index, group_labels)) is not None
        ]
        offset = self.duration(fields.get("query_offset"), context, "query_offset") or 0
        return GroupSpec(self.filename, name, interval or None, limit, tuple(rules), offset)

    def label_pairs(self, node: yaml.Node | None, context: str) -> Pairs:
        labels = []
        for key_node, key, value in self.walk.strings(node, _field(context, "labels")):
            if not LABEL_NAME.match(key) or key == "__name__":
                self.error(key_node, context, f"invalid label name: {key}")
            labels.append((key, value))
        return tuple(labels)

    def rule(self, node: yaml.Node, group: str, index: int, group_labels: Pairs) -> RuleSpec | None:
        context = f'group "{group}", rule {index}, "{_rule_name(node)}"'
        fields = self.walk.mapping(node, _RULE_KEYS, context)
        alert = self.walk.scalar(fields.get("alert"), _field(context, "alert"))
        record = self.walk.scalar(fields.get("record"), _field(context, "record"))
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
        text = self.walk.scalar(node, _field(context, "expr"))
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
        for key_node, key, value in self.walk.strings(node, _field(context, "annotations")):
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
        if isinstance(value_node, yaml.ScalarNode) and not is_null(value_node):
            yield key_node, str(key_node.value), str(value_node.value)
