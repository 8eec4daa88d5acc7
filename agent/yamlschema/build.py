"""YAML nodes -> frozen dataclasses, checked against the classes' type hints.

A dataclass is the schema: its fields are the known keys (`metadata={"key": "global"}` renames
one), fields without a default are required, and the hints give the types: str, int, float,
bool, enums, `X | None`, `list[X]`, `tuple[X, ...]`, `dict[str, X]` / `Mapping[str, X]`, nested
dataclasses, and any scalar type given a parser in `Builder.scalars` (the config's Duration).
A field may name its own parser (`metadata={"parse": parse_duration}`) or a feature it belongs
to (`metadata={"feature": "promtool3"}`: unknown unless the builder has that feature on). A
`__post_init__` that raises ValueError refuses a combination of fields, at the mapping's line.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Collection, Mapping
from typing import Any, ClassVar

import yaml

from agent.yamlschema.document import Report
from agent.yamlschema.walk import Walker, is_null, join, kind

_BOOL_TAG = "tag:yaml.org,2002:bool"


class _NodeError(Exception):
    """One error at one node; reported by Builder.build, never escapes it."""


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None


def _parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None


class Builder(Walker):
    """Builds dataclasses from nodes, collecting every error in the report instead of stopping."""

    scalars: ClassVar[Mapping[Any, Callable[[str], Any]]] = {
        str: str,
        int: _parse_int,
        float: _parse_float,
        bool: lambda text: text.lower() in ("true", "yes", "on"),
    }
    type_names: ClassVar[Mapping[Any, str]] = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
    }

    def __init__(self, report: Report, *, features: Collection[str] = ()) -> None:
        """Report into `report`; fields of the named features are known keys."""
        super().__init__(report)
        self.features = frozenset(features)

    def build(self, tp: Any, node: yaml.Node | None, path: str) -> Any:
        """The value of type `tp` written at `node`; None (and an error in the report) when it is wrong."""
        try:
            return self._convert(tp, node, path)
        except _NodeError as exc:
            self.error(node, path, str(exc))
            return None

    # -- hooks for a family of files (the config adds secrets and ${env:NAME}) -----------------

    def scalar_text(self, text: str) -> str:
        """The text of a scalar as the schema reads it (a hook: the config substitutes variables)."""
        return text

    def field_value(self, f: dataclasses.Field[Any], tp: Any, node: yaml.Node, path: str) -> Any:
        """The value of one known field."""
        parse = f.metadata.get("parse")
        if parse is not None:
            return self.parsed(node, path, parse)
        return self.build(tp, node, path)

    def extra_key(self, fields: Mapping[str, dataclasses.Field[Any]], key: str) -> dataclasses.Field[Any] | None:
        """A field that `key` sets although it is not the field's own key (a hook; none by default)."""
        return None

    def extra_value(self, f: dataclasses.Field[Any], key: str, node: yaml.Node, path: str) -> Any:
        """The value of field `f` given under another key (see extra_key)."""
        return None

    def check_keys(self, fields: Mapping[str, dataclasses.Field[Any]], node: yaml.MappingNode, path: str) -> None:
        """Refuse combinations of keys in one mapping (a hook; nothing by default)."""

    # -- the walk -------------------------------------------------------------------------------

    def _convert(self, tp: Any, node: yaml.Node | None, path: str) -> Any:
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            return None if is_null(node) else self._convert(args[0], node, path)
        if dataclasses.is_dataclass(tp):
            return self._dataclass(typing.cast(type, tp), node, path)
        if origin in (list, tuple):
            items = [
                self.build(typing.get_args(tp)[0], item, f"{path}[{i}]") for i, item in enumerate(self._items(node))
            ]
            return items if origin is list else tuple(items)
        if origin in (dict, collections.abc.Mapping):
            value_tp = typing.get_args(tp)[1]
            return {str(k.value): self.build(value_tp, v, join(path, str(k.value))) for k, v in self._pairs(node)}
        return self._scalar(tp, node)

    def _items(self, node: yaml.Node | None) -> list[yaml.Node]:
        if is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise _NodeError(f"expected a list, got {kind(node)}")
        return list(node.value)

    def _pairs(self, node: yaml.Node | None) -> list[tuple[yaml.Node, yaml.Node]]:
        if is_null(node):
            return []
        if not isinstance(node, yaml.MappingNode):
            raise _NodeError(f"expected a mapping, got {kind(node)}")
        return list(node.value)

    def fields_of(self, cls: type) -> dict[str, dataclasses.Field[Any]]:
        """The known keys of a dataclass and their fields (those of features not on are unknown)."""
        return {
            f.metadata.get("key", f.name): f
            for f in dataclasses.fields(cls)
            if f.metadata.get("feature") is None or f.metadata["feature"] in self.features
        }

    def _dataclass(self, cls: type, node: yaml.Node | None, path: str) -> Any:
        if node is not None and not is_null(node) and not isinstance(node, yaml.MappingNode):
            raise _NodeError(f"expected a mapping, got {kind(node)}")
        hints = typing.get_type_hints(cls)
        fields = self.fields_of(cls)
        values: dict[str, Any] = {}
        if isinstance(node, yaml.MappingNode):
            self.check_keys(fields, node, path)
        for key_node, value_node in self._pairs(node):
            key = str(key_node.value)
            sub = join(path, key)
            if key in fields:
                values[fields[key].name] = self.field_value(fields[key], hints[fields[key].name], value_node, sub)
            elif (extra := self.extra_key(fields, key)) is not None:
                values[extra.name] = self.extra_value(extra, key, value_node, sub)
            else:
                self.error(key_node, sub, self.report.style.unknown(key, list(fields)))
        for key, f in fields.items():
            if f.name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                self.error(node, path, f"missing required field {key!r}")
        try:
            return cls(**{k: v for k, v in values.items() if v is not None or _allows_none(hints[k])})
        except TypeError:
            return None  # a required field was missing; already reported
        except ValueError as exc:  # a dataclass's __post_init__ refusing a combination of fields
            self.error(node, path, str(exc))
            return None

    def _scalar(self, tp: Any, node: yaml.Node | None) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise _NodeError(f"expected {self.type_names.get(tp, str(tp))}, got {kind(node)}")
        text = self.scalar_text(str(node.value))
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return _enum_member(tp, text)
        convert = self.scalars.get(tp)
        if convert is None:
            raise _NodeError(f"unsupported field type {tp!r}")
        if tp is bool and node.tag != _BOOL_TAG:
            raise _NodeError(f"expected true or false, got {text!r}")
        try:
            return convert(text)
        except ValueError as exc:
            raise _NodeError(str(exc)) from exc


def node_error(message: str) -> Exception:
    """An error a hook raises inside Builder.build to report `message` at the node being built."""
    return _NodeError(message)


def _enum_member(tp: type[enum.Enum], text: str) -> enum.Enum:
    for member in tp:
        if member.value == text.lower():
            return member
    raise _NodeError(f"expected one of {', '.join(str(m.value) for m in tp)}, got {text!r}")


def _allows_none(tp: Any) -> bool:
    return type(None) in typing.get_args(tp)
