"""YAML -> typed config, reporting every mistake at once as `file:line: path: message`.

The file is composed into PyYAML nodes (which keep their line numbers) and walked
against the dataclasses of schema.py. Nothing here opens a connection: validation does
no I/O beyond reading the file and its `*_file` secrets.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
import types
import typing
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import promql_parser
import yaml

from agent.config.schema import Config, Duration, Secret

T = TypeVar("T")

_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
_NULL_TAG = "tag:yaml.org,2002:null"
_BOOL_TAG = "tag:yaml.org,2002:bool"


class ConfigError(Exception):
    """A config file that cannot be used; `errors` holds one `file:line: path: message` each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; an empty one is refused (a truncated file must not reset everything)."""
    return load_file(Config, path, allow_empty=False)


def load_file(cls: type[T], path: str | Path, *, allow_empty: bool = True) -> T:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config file: {exc.strerror}"]) from exc
    if not allow_empty and not _has_content(text):
        raise ConfigError([f"{path}: the config file is empty (run without --config for the built-in defaults)"])
    return load_text(cls, text, str(path))


def _has_content(text: str) -> bool:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader) is not None
    except yaml.YAMLError:
        return True  # not empty: load_text reports the error with its line


def load_text(cls: type[T], text: str, filename: str = "<config>") -> T:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        _check_aliases(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{filename}:{line}: invalid YAML: {problem}"]) from exc
    except RecursionError as exc:
        raise ConfigError([f"{filename}:1: invalid YAML: nested too deeply"]) from exc
    builder = _Builder(filename, Path(filename).parent)
    value = builder.build(cls, node, "")
    if builder.errors:
        raise ConfigError(builder.errors)
    if isinstance(value, Config) and value.templates:
        # Alertmanager reads template globs relative to the config file, as we read *_file secrets.
        base = Path(filename).parent
        value = dataclasses.replace(value, templates=[str(base / pattern) for pattern in value.templates])
    return typing.cast(T, value)


MAX_ALIAS_EXPANSION = 10  # expanded nodes per written node, beyond a small document
_SMALL_DOCUMENT_NODES = 10_000


def _check_aliases(root: yaml.Node | None) -> None:
    """Refuse an alias that refers to itself, and aliases that multiply the document (a "billion laughs"):
    walking either would never end. Go's yaml.v3, which Prometheus uses, refuses both too."""
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


class _NodeError(Exception):
    """One error at one node; collected, never escapes the builder."""


class _Builder:
    def __init__(self, filename: str, base_dir: Path) -> None:
        self.filename = filename
        self.base_dir = base_dir
        self.errors: list[str] = []

    def error(self, node: yaml.Node | None, path: str, message: str) -> None:
        mark = node.start_mark if node is not None else None
        line = mark.line + 1 if mark is not None else 1
        where = f" {path}:" if path else ""
        self.errors.append(f"{self.filename}:{line}:{where} {message}")

    def build(self, tp: Any, node: yaml.Node | None, path: str) -> Any:
        try:
            return self._convert(tp, node, path)
        except _NodeError as exc:
            self.error(node, path, str(exc))
            return None

    def _convert(self, tp: Any, node: yaml.Node | None, path: str) -> Any:
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if node is None or node.tag == _NULL_TAG:
                return None
            return self._convert(args[0], node, path)
        if dataclasses.is_dataclass(tp):
            return self._dataclass(typing.cast(type, tp), node, path)
        if origin is list:
            return self._list(typing.get_args(tp)[0], node, path)
        if origin is dict:
            return self._dict(typing.get_args(tp)[1], node, path)
        return self._scalar(tp, node)

    def _dataclass(self, cls: type, node: yaml.Node | None, path: str) -> Any:
        if node is None or node.tag == _NULL_TAG:  # an empty mapping, where the null was written
            marks = (node.start_mark, node.end_mark) if node is not None else (None, None)
            node = yaml.MappingNode("tag:yaml.org,2002:map", [], *marks)
        if not isinstance(node, yaml.MappingNode):
            raise _NodeError(f"expected a mapping, got {_kind(node)}")
        hints = typing.get_type_hints(cls)
        fields = {f.metadata.get("key", f.name): f for f in dataclasses.fields(cls)}
        secret_files = {f"{k}_file": f for k, f in fields.items() if f.metadata.get("secret")}
        values: dict[str, Any] = {}
        self._refuse_both_forms(node, path, secret_files)
        for key_node, value_node in node.value:
            key = str(key_node.value)
            sub = f"{path}.{key}" if path else key
            if key in fields:
                f = fields[key]
                if f.metadata.get("secret_files"):
                    values[f.name] = self._secret_dict(value_node, sub)
                else:
                    values[f.name] = self.build(hints[f.name], value_node, sub)
            elif key in secret_files:
                f = secret_files[key]
                values[f.name] = self._read_secret(value_node, sub)
            else:
                self.error(key_node, sub, f"unknown field {key!r} (known: {', '.join(sorted(fields))})")
        for f in dataclasses.fields(cls):
            if f.name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                self.error(node, path, f"missing required field {f.metadata.get('key', f.name)!r}")
        try:
            return cls(**{k: v for k, v in values.items() if v is not None or _allows_none(hints[k])})
        except TypeError:
            return None  # a required field was missing; already reported
        except ValueError as exc:  # a dataclass's __post_init__ refusing a combination of fields
            self.error(node, path, str(exc))
            return None

    def _refuse_both_forms(self, node: yaml.MappingNode, path: str, secret_files: Collection[str]) -> None:
        """A secret given both inline and as `<field>_file`: Alertmanager refuses it too (which would win?)."""
        given = {str(key_node.value): key_node for key_node, _ in node.value}
        for key in secret_files:
            plain = key.removesuffix("_file")
            if plain in given and key in given:
                sub = f"{path}.{key}" if path else key
                self.error(given[key], sub, f"at most one of {plain} and {key} may be set")

    def _list(self, item_tp: Any, node: yaml.Node | None, path: str) -> list[Any]:
        if node is None or node.tag == _NULL_TAG:
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise _NodeError(f"expected a list, got {_kind(node)}")
        return [self.build(item_tp, item, f"{path}[{i}]") for i, item in enumerate(node.value)]

    def _dict(self, value_tp: Any, node: yaml.Node | None, path: str) -> dict[str, Any]:
        if node is None or node.tag == _NULL_TAG:
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise _NodeError(f"expected a mapping, got {_kind(node)}")
        return {str(k.value): self.build(value_tp, v, f"{path}.{k.value}") for k, v in node.value}

    def _secret_dict(self, node: yaml.Node | None, path: str) -> dict[str, Secret]:
        """A mapping of secrets where `NAME_file: PATH` gives NAME the content of the file."""
        values: dict[str, Secret] = self.build(dict[str, Secret], node, path) or {}
        for key_node, value_node in node.value if isinstance(node, yaml.MappingNode) else []:
            key = str(key_node.value)
            file_path = values.pop(key, None) if key.endswith("_file") else None
            if file_path is not None and key.removesuffix("_file") in values:
                self.error(
                    key_node, f"{path}.{key}", f"at most one of {key.removesuffix('_file')} and {key} may be set"
                )
            elif file_path is not None:
                secret = self._read_secret_at(value_node, f"{path}.{key}", file_path)
                if secret is not None:
                    values[key.removesuffix("_file")] = secret
        return values

    def _scalar(self, tp: Any, node: yaml.Node | None) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise _NodeError(f"expected {_type_name(tp)}, got {_kind(node)}")
        text = self._substitute(str(node.value))
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return _enum_member(tp, text)
        convert = _SCALARS.get(tp)
        if convert is None:
            raise _NodeError(f"unsupported field type {tp!r}")
        if tp is bool and node.tag != _BOOL_TAG:
            raise _NodeError(f"expected true or false, got {text!r}")
        try:
            return convert(text)
        except ValueError as exc:
            raise _NodeError(str(exc)) from exc

    def _substitute(self, text: str) -> str:
        def env(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise _NodeError(f"environment variable {name} is not set")
            return os.environ[name]

        return _ENV_REF.sub(env, text)

    def _read_secret(self, node: yaml.Node, path: str) -> Secret | None:
        file_path = self.build(str, node, path)
        if file_path is None:
            return None
        return self._read_secret_at(node, path, file_path)

    def _read_secret_at(self, node: yaml.Node | None, path: str, file_path: str) -> Secret | None:
        """The content of a secret file (relative paths from the config file's directory), without its newline."""
        resolved = Path(file_path) if os.path.isabs(file_path) else self.base_dir / file_path
        try:
            return Secret(resolved.read_text(encoding="utf-8").rstrip("\n"))
        except OSError as exc:
            self.error(node, path, f"cannot read secret file {file_path}: {exc.strerror}")
            return None
        except ValueError as exc:  # a NUL in the path, or a file that is not UTF-8
            self.error(node, path, f"cannot read secret file {file_path!r}: {exc}")
            return None


def parse_duration(text: str) -> Duration:
    """A Prometheus duration (`10s`, `1m30s`) in seconds; ValueError when it is not one."""
    if re.fullmatch(r"0+(ms|[smhdwy])?", text.strip()):
        return Duration(0)  # promql-parser refuses a zero duration; configs use `group_wait: 0s`
    try:
        return Duration(promql_parser.parse_duration(text).total_seconds())
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a ValueError-like error, or pyo3's PanicException (`-5`) from BaseException
        raise ValueError(f"invalid duration {text!r} (use 10s, 1m30s, 5m, 1h)") from exc


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


_SCALARS: dict[Any, Callable[[str], Any]] = {
    str: str,
    Secret: Secret,
    int: _parse_int,
    float: _parse_float,
    bool: lambda text: text.lower() in ("true", "yes", "on"),
    Duration: parse_duration,
}


def _enum_member(tp: type[enum.Enum], text: str) -> enum.Enum:
    for member in tp:
        if member.value == text.lower():
            return member
    raise _NodeError(f"expected one of {', '.join(str(m.value) for m in tp)}, got {text!r}")


def _allows_none(tp: Any) -> bool:
    return type(None) in typing.get_args(tp)


def _kind(node: yaml.Node | None) -> str:
    if node is None or node.tag == _NULL_TAG:
        return "nothing"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return repr(node.value)


def _type_name(tp: Any) -> str:
    return {
        str: "a string",
        Secret: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        Duration: "a duration",
    }.get(tp, str(tp))
