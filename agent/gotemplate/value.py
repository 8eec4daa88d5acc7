"""The Go values a template can hold, Go's truth and type names, and the template error."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

# Bound on the text one expansion (or one printf) may produce.
MAX_OUTPUT_CHARS = 1 << 20


class TemplateError(Exception):
    """Raised when a template cannot be parsed or expanded."""


class GoStruct:
    """A Go struct handed to a template as data: named fields, printed in declaration order."""

    go_type_name: ClassVar[str] = "struct {}"

    def go_field(self, name: str) -> Value:
        """Read a field by its Go name; None if the Go struct has no such field."""
        return None

    def go_fields(self) -> list[Value]:
        """The fields in the Go struct's declaration order, for printing."""
        return []

    def go_method(self, name: str) -> Callable[..., Value] | None:
        """A method of the Go type by name, called with its template arguments; None if none."""
        return None

    def go_string(self) -> str | None:
        """What the Go type's String method returns (fmt prints that); None if it has none."""
        return None


class GoMap(dict[str, str]):
    """A named Go map[string]string type with methods (Alertmanager's template.KV)."""

    def go_method(self, name: str) -> Callable[..., Value] | None:
        """A method of the Go type by name; None if none."""
        return None

    def go_string(self) -> str | None:
        """What the Go type's String method returns; None if it has none."""
        return None


@dataclass(frozen=True)
class GoSlice:
    """A Go slice handed to a template ([]string, []Alert, ...): ranged over, indexed, printed as [a b]."""

    items: tuple[Value, ...]
    go_type_name: str = "[]string"

    def go_method(self, name: str) -> Callable[..., Value] | None:
        """Slices of the template data have no methods tripwired's templates call."""
        return None


class NoValue:
    """Go's invalid reflect.Value, which text/template prints as "<no value>"."""


NO_VALUE = NoValue()

# str is Go's string, float float64, int int, bool bool, Mapping map[string]string, None nil.
Value = str | float | int | bool | Mapping[str, str] | GoStruct | GoSlice | None | NoValue


def go_type(value: Value) -> str:
    """Name the Go type of a value, as Go's error messages and %!verb outputs do."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (GoStruct, GoSlice)):
        return value.go_type_name
    if isinstance(value, Mapping):
        return "map[string]string"
    return "<nil>"


def is_true(value: Value) -> bool:
    """Decide truth as text/template's isTrue does: zero values and empty things are false."""
    if isinstance(value, (str, Mapping)):
        return len(value) > 0
    if isinstance(value, GoSlice):
        return len(value.items) > 0
    if isinstance(value, (bool, int, float)):
        return value != 0
    return isinstance(value, GoStruct)
