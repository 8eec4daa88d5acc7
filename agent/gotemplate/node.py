"""The parse tree: immutable nodes, as Go's text/template/parse defines them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.gotemplate.value import TemplateError


@dataclass(frozen=True)
class Number:
    """A numeric constant, with the int and float readings Go's parse.NumberNode keeps."""

    text: str
    as_int: int | None
    as_float: float | None

    def ideal(self) -> int | float:
        """The value Go gives a constant passed where any type is accepted (exec's idealConstant)."""
        is_hex_int = self.text.lstrip("+-").lower().startswith("0x") and "p" not in self.text.lower()
        if self.as_float is not None and not is_hex_int and re.search("[.eEpP]", self.text):
            return self.as_float
        if self.as_int is not None:
            return self.as_int
        raise TemplateError(f"{self.text} overflows int")


@dataclass(frozen=True)
class Literal:
    """A string, bool, character or number constant."""

    value: str | bool | int | Number
    source: str


@dataclass(frozen=True)
class Nil:
    """The nil constant."""

    source: str = "nil"


@dataclass(frozen=True)
class Dot:
    """The cursor, "."."""

    source: str = "."


@dataclass(frozen=True)
class Variable:
    """A variable reference, with any field chain after it ($labels.instance)."""

    name: str
    fields: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Field:
    """A field chain on the cursor (.Labels.instance)."""

    fields: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class FunctionRef:
    """A function name in a command."""

    name: str
    source: str


@dataclass(frozen=True)
class Chain:
    """A parenthesized pipeline, optionally followed by fields ((index $labels "a").x)."""

    pipe: Pipeline
    fields: tuple[str, ...]
    source: str


Operand = Literal | Nil | Dot | Variable | Field | FunctionRef | Chain


@dataclass(frozen=True)
class Command:
    """One stage of a pipeline: an operand, and arguments if it is a function."""

    args: tuple[Operand, ...]
    source: str


@dataclass(frozen=True)
class Pipeline:
    """Commands joined by |, with optional variable declarations or assignments."""

    decl: tuple[str, ...]
    is_assign: bool
    cmds: tuple[Command, ...]


@dataclass(frozen=True)
class Text:
    """Literal text."""

    text: str


@dataclass(frozen=True)
class Action:
    """{{ pipeline }}: evaluated, and printed unless it declares a variable."""

    pipe: Pipeline


@dataclass(frozen=True)
class Control:
    """{{if}}, {{with}} or {{range}} with its body and else branch."""

    kind: str
    pipe: Pipeline
    body: tuple[Node, ...]
    orelse: tuple[Node, ...]


@dataclass(frozen=True)
class LoopControl:
    """{{break}} or {{continue}} inside a range body."""

    kind: str


@dataclass(frozen=True)
class TemplateCall:
    """{{template "name" pipeline}}: run a named template with the pipeline's value as dot."""

    name: str
    pipe: Pipeline | None


Node = Text | Action | Control | LoopControl | TemplateCall
