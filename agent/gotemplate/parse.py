"""The parser: tokens into a tree, mirroring text/template/parse, with Go's error messages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.gotemplate.funcs import Function
from agent.gotemplate.lex import REFUSED_KEYWORDS, Token, positioned_error
from agent.gotemplate.node import (
    Action,
    Chain,
    Command,
    Control,
    Dot,
    Field,
    FunctionRef,
    Literal,
    LoopControl,
    Nil,
    Node,
    Number,
    Operand,
    Pipeline,
    TemplateCall,
    Text,
    Variable,
)
from agent.gotemplate.strconv import parse_float_or_none, parse_int
from agent.gotemplate.value import TemplateError
from agent.model import go_quote

_MAX_NESTING = 100


@dataclass
class Parser:
    """Recursive-descent parser over the token list, mirroring text/template/parse."""

    text: str
    tokens: list[Token]
    funcs: Mapping[str, Function]
    refused: Mapping[str, str]
    prelude_len: int = 0
    # Named templates ({{define}}) found while parsing; None refuses define, template and block.
    named: dict[str, tuple[Node, ...]] | None = None
    pos: int = 0
    variables: list[str] = field(default_factory=lambda: ["$"])
    depth: int = 0
    range_depth: int = 0

    def parse(self) -> tuple[Node, ...]:
        """Parse the whole template."""
        nodes, terminator = self._list()
        if terminator is not None:
            raise self._error(f"unexpected {{{{{terminator}}}}}", self.tokens[self.pos - 1])
        return nodes

    def _error(self, message: str, token: Token | None = None) -> TemplateError:
        """An error located at the current position (or the given one)."""
        return positioned_error(self.text, (token or self._peek()).pos, message, self.prelude_len)

    def _peek(self) -> Token:
        """The next token, not consumed."""
        return self.tokens[self.pos]

    def _next(self) -> Token:
        """Consume and return the next token."""
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def _skip_space(self) -> None:
        """Consume space tokens."""
        while self._peek().kind == "space":
            self.pos += 1

    def _peek_non_space(self) -> Token:
        """The next token after any spaces (the spaces are consumed)."""
        self._skip_space()
        return self._peek()

    def _list(self) -> tuple[tuple[Node, ...], str | None]:
        """Parse nodes up to EOF or an {{end}}/{{else}}; return them and what stopped them."""
        nodes: list[Node] = []
        while self._peek().kind != "eof":
            token = self._next()
            if token.kind == "text":
                nodes.append(Text(token.text))
                continue
            assert token.kind == "left"  # the lexer emits only text and actions at this level
            node = self._action()
            if node == "define":
                continue
            if isinstance(node, str):
                return tuple(nodes), node
            nodes.append(node)
        return tuple(nodes), None

    def _action(self) -> Node | str:
        """Parse what follows {{: a control structure, end, else, or a pipeline."""
        token = self._peek_non_space()
        if token.kind == "keyword":
            self._next()
            return self._keyword(token)
        return Action(self._pipeline("command", "right"))

    def _keyword(self, token: Token) -> Node | str:
        """Parse what follows a keyword: a control structure, or the end/else that closes one."""
        if token.text in REFUSED_KEYWORDS and self.named is None:
            raise self._error(f"{{{{{token.text}}}}} is not supported by tripwired in alert templates", token)
        if token.text == "define":
            return self._define(token)
        if token.text == "template":
            return self._template_call()
        if token.text == "block":
            return self._block()
        if token.text in ("break", "continue"):
            return self._loop_control(token)
        if token.text == "end":
            self._expect("right", "end")
            return "end"
        if token.text == "else":
            if self._peek_non_space().kind == "keyword" and self._peek().text == "if":
                return "else if"
            self._expect("right", "else")
            return "else"
        return self._control(token.text)

    def _define(self, token: Token) -> str:
        """{{define "name"}} ... {{end}}, allowed at the top level only; the body goes to named."""
        if self.depth > 0:
            raise self._error("unexpected <define> in command", token)
        name = self._expect("string", "define clause").text
        self._expect("right", "define clause")
        self._add_named(name, self._named_body("define"))
        return "define"

    def _named_body(self, context: str) -> tuple[Node, ...]:
        """The body of a define or block up to its {{end}}, with only $ in scope (a new template)."""
        saved_variables, self.variables = self.variables, ["$"]
        self.depth += 1
        body, terminator = self._list()
        self.depth -= 1
        self.variables = saved_variables
        if terminator != "end":
            raise self._error(f"unexpected {'EOF' if terminator is None else terminator} in {context} clause")
        return body

    def _add_named(self, name: str, body: tuple[Node, ...]) -> None:
        """Go's AddParseTree: a later definition replaces an earlier one unless it is empty."""
        assert self.named is not None
        if name in self.named and _is_empty(body):
            return
        self.named[name] = body

    def _template_call(self) -> TemplateCall:
        """{{template "name"}} or {{template "name" pipeline}}."""
        name = self._expect("string", "template clause").text
        if self._peek_non_space().kind == "right":
            self._next()
            return TemplateCall(name, None)
        return TemplateCall(name, self._pipeline("template clause", "right"))

    def _block(self) -> TemplateCall:
        """{{block "name" pipeline}} ... {{end}}: define name and call it here."""
        name = self._expect("string", "block clause").text
        pipe = self._pipeline("block clause", "right")
        self._add_named(name, self._named_body("block"))
        return TemplateCall(name, pipe)

    def _loop_control(self, token: Token) -> LoopControl:
        """{{break}} or {{continue}}, which Go allows only inside a range body."""
        if self.range_depth == 0:
            raise self._error(f"{{{{{token.text}}}}} outside {{{{range}}}}", token)
        self._expect("right", token.text)
        return LoopControl(token.text)

    def _expect(self, kind: str, context: str) -> Token:
        """Consume the next non-space token, which must be of kind."""
        token = self._peek_non_space()
        if token.kind != kind:
            raise self._error(f"unexpected {go_quote(token.text) if token.text else 'EOF'} in {context}", token)
        return self._next()

    def _control(self, kind: str) -> Control:
        """Parse if/with/range up to its {{end}}, scoping variables declared inside."""
        self.depth += 1
        if self.depth > _MAX_NESTING:
            raise self._error(f"control structures nested deeper than {_MAX_NESTING}")
        saved_variables = len(self.variables)
        pipe = self._pipeline(kind, "right")
        # Only the body of a range, not its else branch, may break or continue.
        self.range_depth += kind == "range"
        body, terminator = self._list()
        self.range_depth -= kind == "range"
        orelse: tuple[Node, ...] = ()
        if terminator == "else if" and kind == "if":
            self._next()  # the "if"; the nested if consumes the single {{end}}
            orelse = (self._control("if"),)
        elif terminator == "else":
            orelse, terminator = self._list()
            if terminator != "end":
                raise self._error(f"expected end; found {terminator or 'EOF'}")
        elif terminator != "end":
            raise self._error(f"unexpected {'EOF' if terminator is None else terminator} in {kind}")
        del self.variables[saved_variables:]
        self.depth -= 1
        return Control(kind, pipe, body, orelse)

    def _pipeline(self, context: str, end: str) -> Pipeline:
        """Parse [decl :=] command | command ... up to the end token."""
        decl, is_assign = self._declarations(context)
        cmds: list[Command] = []
        while True:
            token = self._peek_non_space()
            if token.kind == end:
                self._next()
                break
            if token.kind in ("eof", "right", "rparen"):
                raise self._error(f"unexpected {go_quote(token.text) if token.text else 'EOF'} in {context}", token)
            cmds.append(self._command(context))
        self._check_pipeline(context, cmds)
        return Pipeline(tuple(decl), is_assign, tuple(cmds))

    def _check_pipeline(self, context: str, cmds: list[Command]) -> None:
        """Refuse empty pipelines and constants after the first stage, as Go's checkPipeline does."""
        if not cmds:
            raise self._error(f"missing value for {context}")
        for stage, cmd in enumerate(cmds[1:], start=2):
            if isinstance(cmd.args[0], (Literal, Nil, Dot)):
                raise self._error(f"non executable command in pipeline stage {stage}")

    def _declarations(self, context: str) -> tuple[list[str], bool]:
        """Read "$x :=", "$x =" or, in range, "$k, $v :=" if present."""
        start = self.pos
        names: list[str] = []
        while self._peek_non_space().kind == "variable":
            names.append(self._next().text)
            following = self._peek_non_space()
            if following.kind in ("declare", "assign"):
                self._next()
                self.variables.extend(names)
                return names, following.kind == "assign"
            if following.kind == "comma" and context == "range" and len(names) == 1:
                self._next()
                continue
            if following.kind == "comma":
                raise self._error(f"too many declarations in {context}", following)
            break
        self.pos = start
        return [], False

    def _command(self, context: str) -> Command:
        """Parse space-separated operands up to |, a right delimiter or a right paren."""
        start = self._peek().pos
        args: list[Operand] = []
        while True:
            token = self._peek_non_space()
            if token.kind in ("right", "rparen", "eof"):
                break
            if token.kind == "pipe":
                self._next()
                break
            args.append(self._operand(context))
            if self._peek().kind not in ("space", "right", "rparen", "pipe", "eof"):
                raise self._error(f"unexpected {go_quote(self._peek().text)} in operand")
        if not args:
            raise self._error("empty command")
        return Command(tuple(args), self.text[start : self._peek().pos].strip())

    def _operand(self, context: str) -> Operand:
        """Parse a term and any field chain written directly after it."""
        token = self._next()
        if token.kind == "lparen":
            return self._parenthesized(token)
        if token.kind == "identifier":
            return self._function_ref(token)
        if token.kind == "variable":
            return self._variable(token)
        if token.kind == "field":
            return Field(self._fields([token.text[1:]]), self._source_from(token))
        if token.kind == "dot":
            return self._no_chain(Dot(), token)
        if token.kind == "nil":
            return self._no_chain(Nil(), token)
        if token.kind in ("string", "char", "bool", "number"):
            return self._no_chain(self._literal(token), token)
        raise self._error(f"unexpected {go_quote(token.text)} in {context}", token)

    def _source_from(self, token: Token) -> str:
        """The template text from token up to the current position, for error messages."""
        return self.text[token.pos : self._peek().pos]

    def _fields(self, fields: list[str]) -> tuple[str, ...]:
        """Consume a run of .field tokens written directly after a term."""
        while self._peek().kind == "field":
            fields.append(self._next().text[1:])
        return tuple(fields)

    def _no_chain(self, operand: Operand, token: Token) -> Operand:
        """Refuse a field access after a constant, as Go does."""
        if self._peek().kind == "field":
            raise self._error(f"unexpected . after term {go_quote(token.text)}")
        return operand

    def _parenthesized(self, token: Token) -> Chain:
        """Parse a (pipeline) and any fields after it."""
        self.depth += 1
        if self.depth > _MAX_NESTING:
            raise self._error(f"parentheses nested deeper than {_MAX_NESTING}")
        pipe = self._pipeline("parenthesized pipeline", "rparen")
        self.depth -= 1
        return Chain(pipe, self._fields([]), self._source_from(token))

    def _function_ref(self, token: Token) -> FunctionRef:
        """Resolve a function name, refusing unknown and server-only functions."""
        name = token.text
        if name in self.refused:
            reason = self.refused[name]
            raise self._error(f"function {go_quote(name)} is not supported by tripwired: {reason}", token)
        if name not in self.funcs:
            raise self._error(f"function {go_quote(name)} not defined", token)
        if self._peek().kind == "field":
            raise self._error(f"field access on the result of {name} is not supported by tripwired")
        return FunctionRef(name, name)

    def _variable(self, token: Token) -> Variable:
        """Resolve a variable reference, which must be in scope."""
        if token.text not in self.variables:
            raise self._error(f"undefined variable {go_quote(token.text)}", token)
        fields = self._fields([])
        return Variable(token.text, fields, self._source_from(token))

    def _literal(self, token: Token) -> Literal:
        """Turn a constant token into a literal node."""
        if token.kind == "bool":
            return Literal(token.text == "true", token.text)
        if token.kind == "char":
            return Literal(Number(token.text, ord(token.text), float(ord(token.text))), token.text)
        if token.kind == "number":
            return Literal(self._number(token.text), token.text)
        return Literal(token.text, self.text[token.pos : self._peek().pos])

    def _number(self, text: str) -> Number:
        """Read a numeric constant as text/template's NewNumber does (int and float readings)."""
        if text.endswith("i"):
            raise self._error(f"complex constant {text} is not supported by tripwired")
        as_int = parse_int(text)
        as_float = float(as_int) if as_int is not None else parse_float_or_none(text)
        if as_int is None and as_float is not None and not re.search("[.eEpP]", text):
            # Go reads an integer-looking literal that only parses as a float (08, 1e20 digits) as overflow.
            raise self._error(f"integer overflow: {go_quote(text)}")
        if as_int is None and as_float is not None and as_float.is_integer() and abs(as_float) < 2.0**63:
            as_int = int(as_float)
        if as_int is None and as_float is None:
            raise self._error(f"illegal number syntax: {go_quote(text)}")
        return Number(text, as_int, as_float)


def _is_empty(nodes: tuple[Node, ...]) -> bool:
    """Go's parse.IsEmptyTree: only white space (so an empty define does not replace a full one)."""
    return all(isinstance(node, Text) and not node.text.strip() for node in nodes)
