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

from collections.abc import Mapping
from dataclasses import dataclass

from agent.gotemplate.exec import Executor
from agent.gotemplate.funcs import BUILTINS, Function
from agent.gotemplate.lex import Lexer
from agent.gotemplate.node import Node
from agent.gotemplate.parse import Parser
from agent.gotemplate.value import GoStruct, TemplateError, Value

__all__ = ["BUILTINS", "Function", "GoStruct", "Template", "TemplateError", "Value", "parse"]


@dataclass(frozen=True)
class Template:
    """A parsed template with the functions it may call, ready to run over many data values."""

    text: str
    nodes: tuple[Node, ...]
    funcs: Mapping[str, Function]

    def execute(self, data: Value) -> str:
        """Run the template with data as "." and "$"; raises TemplateError as Go's Execute would."""
        executor = Executor(data, self.funcs)
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
