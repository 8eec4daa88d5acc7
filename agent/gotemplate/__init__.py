"""Go's text/template, as a safe interpreter: the package ruler and notify templates run on.

Laid out like Go's package: lex (tokens), node and parse (the tree), exec (the walk over
data), funcs (how a function is declared, and Go's builtins), with fmt, strconv and regexp
for the parts of Go's library that templates print, parse and match with. There is no
eval/exec, no file or network access; output size, loop iterations and nesting depth are
bounded. A caller adds its own functions (Prometheus' humanize, ...) by passing a function
map, as Go's Template.Funcs does, and hands data as Go values (str, float, int, bool,
map[string]string, or a GoStruct).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from agent.gotemplate.exec import Executor
from agent.gotemplate.funcs import BUILTINS, Function
from agent.gotemplate.lex import Lexer
from agent.gotemplate.node import Node
from agent.gotemplate.parse import Parser
from agent.gotemplate.value import GoMap, GoSlice, GoStruct, TemplateError, Value

__all__ = [
    "BUILTINS",
    "Function",
    "GoMap",
    "GoSlice",
    "GoStruct",
    "Template",
    "TemplateError",
    "TemplateSet",
    "Value",
    "parse",
]


@dataclass(frozen=True)
class Template:
    """A parsed template with the functions it may call, ready to run over many data values."""

    text: str
    nodes: tuple[Node, ...]
    funcs: Mapping[str, Function]
    named: Mapping[str, tuple[Node, ...]] = field(default_factory=dict)

    def execute(
        self,
        data: Value,
        *,
        escape: Callable[[str], str] | None = None,
        safe: type | None = None,
        text_filter: Callable[[str], str] | None = None,
    ) -> str:
        """Run the template with data as "." and "$"; raises TemplateError as Go's Execute would.

        escape, if given, rewrites every printed value except those of type safe, as
        html/template escapes all but template.HTML (context-free: the text/attribute escaper);
        text_filter rewrites the template's literal text (html/template drops comments).
        """
        executor = Executor(data, self.funcs, self.named, escape=escape, safe=safe, text_filter=text_filter)
        try:
            executor.walk(self.nodes, data)
        except RecursionError as exc:
            raise TemplateError("template is nested too deeply") from exc
        return "".join(executor.output.parts)


def parse(
    text: str,
    funcs: Mapping[str, Function] = BUILTINS,
    *,
    refused: Mapping[str, str] | None = None,
    prelude: str = "",
) -> Template:
    """Parse text; raises TemplateError naming the line, column and problem.

    funcs are the functions the template may call (Go's builtins and any the caller adds);
    refused names functions to refuse with a reason; prelude is text the caller prepends
    (variable declarations), left out of error positions.
    """
    full_text = prelude + text
    tokens = Lexer(full_text, len(prelude)).run()
    nodes = Parser(full_text, tokens, funcs, refused or {}, len(prelude)).parse()
    return Template(text, nodes, funcs)


@dataclass
class TemplateSet:
    """Named templates ({{define}}) shared by many texts, as one Go *template.Template and its tree set.

    Files are added in order; a later {{define}} of a name replaces an earlier one unless its
    body is empty (Go's AddParseTree). Texts expanded against the set may call any name.
    """

    funcs: Mapping[str, Function]
    named: dict[str, tuple[Node, ...]] = field(default_factory=dict)

    def add(self, text: str, source: str) -> None:
        """Parse a template file into the set; raises TemplateError prefixed with source."""
        self.named = _parse_named(text, self.funcs, dict(self.named), source)[1]

    def parse(self, text: str) -> Template:
        """Parse a text against a copy of the set (its own defines stay its own), as Clone+Parse does."""
        nodes, named = _parse_named(text, self.funcs, dict(self.named), "")
        return Template(text, nodes, self.funcs, named)

    def execute(self, name: str, data: Value) -> str:
        """Run the named template with data as dot; raises TemplateError if it is not defined."""
        if name not in self.named:
            raise TemplateError(f'no such template "{name}"')
        return Template("", self.named[name], self.funcs, self.named).execute(data)


def _parse_named(
    text: str, funcs: Mapping[str, Function], named: dict[str, tuple[Node, ...]], source: str
) -> tuple[tuple[Node, ...], dict[str, tuple[Node, ...]]]:
    """Parse text allowing define, template and block; defines land in named."""
    try:
        tokens = Lexer(text).run()
        nodes = Parser(text, tokens, funcs, {}, named=named).parse()
    except TemplateError as exc:
        raise TemplateError(f"{source}:{exc}" if source else str(exc)) from None
    return nodes, named
