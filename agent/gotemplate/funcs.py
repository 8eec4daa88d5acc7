"""Template functions: how one is declared, and Go's builtins (comparison, logic, len, index, print)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent.gotemplate.fmt import sprint, sprintf, sprintln
from agent.gotemplate.value import GoSlice, NoValue, TemplateError, Value, go_type, is_true


@dataclass(frozen=True)
class Function:
    """A template function: its Go parameter types and its implementation.

    params lists "string" or "any" per fixed parameter; variadic says whether further
    "any" arguments are accepted. A lazy function (and, or) receives thunks.
    """

    params: tuple[str, ...]
    variadic: bool
    call: Callable[..., Value]
    lazy: bool = False


def _basic_kind(value: Value) -> str | None:
    """The comparable kind of a value (text/template's basicKind), or None."""
    kind = go_type(value)
    return kind if kind in ("bool", "int", "float64", "string") else None


def _eq(first: Value, *others: Value) -> bool:
    """Go's eq: first == any of the others, only between values of one basic kind."""
    if not others:
        raise TemplateError("missing argument for comparison")
    kind = _basic_kind(first)
    for other in others:
        other_kind = _basic_kind(other)
        if kind != other_kind:
            raise TemplateError("incompatible types for comparison")
        if kind is None:
            raise TemplateError("invalid type for comparison")
        if first == other:
            return True
    return False


def _lt(first: Value, second: Value) -> bool:
    """Go's lt: ordered comparison of two ints, floats or strings."""
    kind, other_kind = _basic_kind(first), _basic_kind(second)
    if kind is None or other_kind is None:
        raise TemplateError("invalid type for comparison")
    if kind != other_kind:
        raise TemplateError("incompatible types for comparison")
    if isinstance(first, str) and isinstance(second, str):
        return first < second
    if isinstance(first, bool) or isinstance(second, bool):
        raise TemplateError("invalid type for comparison")
    assert isinstance(first, (int, float)) and isinstance(second, (int, float))
    return first < second


def _ne(first: Value, second: Value) -> bool:
    """Go's ne."""
    return not _eq(first, second)


def _le(first: Value, second: Value) -> bool:
    """Go's le, defined as lt or eq (so NaN quirks match Go's)."""
    return _lt(first, second) or _eq(first, second)


def _gt(first: Value, second: Value) -> bool:
    """Go's gt, defined as not le."""
    return not _le(first, second)


def _ge(first: Value, second: Value) -> bool:
    """Go's ge, defined as not lt."""
    return not _lt(first, second)


def _not(value: Value) -> bool:
    """Go's not."""
    return not is_true(value)


def _len(value: Value) -> int:
    """Go's len: bytes of a string, entries of a map."""
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogateescape"))
    if isinstance(value, Mapping):
        return len(value)
    if isinstance(value, GoSlice):
        return len(value.items)
    if value is None or isinstance(value, NoValue):
        raise TemplateError("len of nil pointer")
    raise TemplateError(f"len of type {go_type(value)}")


def _index(item: Value, *keys: Value) -> Value:
    """Go's index: map lookup (missing keys give ""), or a byte of a string."""
    for key in keys:
        item = _index_one(item, key)
    return item


def _index_one(item: Value, key: Value) -> Value:
    """One step of Go's index."""
    if isinstance(item, Mapping):
        if not isinstance(key, str):
            raise TemplateError(f"value has type {go_type(key)}; should be string")
        return item.get(key, "")
    if isinstance(item, GoSlice):
        if isinstance(key, bool) or not isinstance(key, int):
            raise TemplateError(f"cannot index slice/array with type {go_type(key)}")
        if not 0 <= key < len(item.items):
            raise TemplateError(f"index out of range: {key}")
        return item.items[key]
    if isinstance(item, str):
        if isinstance(key, bool) or not isinstance(key, int):
            raise TemplateError(f"cannot index slice/array with type {go_type(key)}")
        raw = item.encode("utf-8", "surrogateescape")
        if not 0 <= key < len(raw):
            raise TemplateError(f"index out of range: {key}")
        return raw[key]
    if item is None or isinstance(item, NoValue):
        raise TemplateError("index of untyped nil")
    raise TemplateError(f"can't index item of type {go_type(item)}")


def _and(*thunks: Callable[[], Value]) -> Value:
    """Go's and: the first false argument, or the last; later arguments are not evaluated."""
    value: Value = None
    for thunk in thunks:
        value = thunk()
        if not is_true(value):
            return value
    return value


def _or(*thunks: Callable[[], Value]) -> Value:
    """Go's or: the first true argument, or the last; later arguments are not evaluated."""
    value: Value = None
    for thunk in thunks:
        value = thunk()
        if is_true(value):
            return value
    return value


def _printf(fmt: str, *args: Value) -> str:
    """Go's printf (fmt.Sprintf)."""
    return sprintf(fmt, args)


BUILTINS: Mapping[str, Function] = {
    "printf": Function(("string",), True, _printf),
    "print": Function((), True, lambda *args: sprint(args)),
    "println": Function((), True, lambda *args: sprintln(args)),
    "eq": Function(("any",), True, _eq),
    "ne": Function(("any", "any"), False, _ne),
    "lt": Function(("any", "any"), False, _lt),
    "le": Function(("any", "any"), False, _le),
    "gt": Function(("any", "any"), False, _gt),
    "ge": Function(("any", "any"), False, _ge),
    "and": Function(("any",), True, _and, lazy=True),
    "or": Function(("any",), True, _or, lazy=True),
    "not": Function(("any",), False, _not),
    "len": Function(("any",), False, _len),
    "index": Function(("any",), True, _index),
}
