"""The executor: walks a parsed template over data with Go's text/template semantics."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from agent.gotemplate.fmt import print_value
from agent.gotemplate.funcs import Function
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
from agent.gotemplate.value import (
    MAX_OUTPUT_CHARS,
    NO_VALUE,
    GoMap,
    GoSlice,
    GoStruct,
    NoValue,
    TemplateError,
    Value,
    go_type,
    is_true,
)

_MAX_LOOP_ITERATIONS = 10_000
_MAX_TEMPLATE_DEPTH = 100  # {{template}} calls nested in one another (a recursive define ends here)


class _Output:
    """Collects expanded text and enforces the output bound."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> None:
        """Append text, failing once the total passes the bound."""
        self.size += len(text)
        if self.size > MAX_OUTPUT_CHARS:
            raise TemplateError(f"expansion exceeds {MAX_OUTPUT_CHARS} characters")
        self.parts.append(text)


class _Missing:
    """Marks that no earlier pipeline stage has produced a value to pass on."""


_MISSING = _Missing()


class Executor:
    """Walks a parsed template with Go's text/template semantics."""

    def __init__(
        self,
        data: Value,
        funcs: Mapping[str, Function],
        named: Mapping[str, Sequence[Node]] | None = None,
        *,
        escape: Callable[[str], str] | None = None,
        safe: type | None = None,
        text_filter: Callable[[str], str] | None = None,
    ) -> None:
        """escape, if given, rewrites every printed value except those of type safe; text_filter
        rewrites the template's own text (html/template strips comments)."""
        self.variables: list[tuple[str, Value]] = [("$", data)]
        self.funcs = funcs
        self.named = named or {}
        self.output = _Output()
        self.iterations = 0
        self.template_depth = 0
        self.escape = escape
        self.safe = safe
        self.text_filter = text_filter

    def walk(self, nodes: Sequence[Node], dot: Value) -> str | None:
        """Execute a list of nodes; return "break" or "continue" if one ends it early."""
        for node in nodes:
            signal: str | None = None
            if isinstance(node, Text):
                self.output.write(node.text if self.text_filter is None else self.text_filter(node.text))
            elif isinstance(node, Action):
                value = self.pipeline(node.pipe, dot)
                if not node.pipe.decl:
                    self.output.write(self.printed(value))
            elif isinstance(node, LoopControl):
                signal = node.kind
            elif isinstance(node, TemplateCall):
                self.walk_template(node, dot)
            elif node.kind == "range":
                self.walk_range(node, dot)
            else:
                signal = self.walk_if_or_with(node, dot)
            if signal is not None:
                return signal
        return None

    def printed(self, value: Value) -> str:
        """An action's value as text, escaped when the template is an HTML one."""
        text = print_value(value)
        if self.escape is None or (self.safe is not None and isinstance(value, self.safe)):
            return text
        return self.escape(text)

    def walk_if_or_with(self, node: Control, dot: Value) -> str | None:
        """{{if}} and {{with}}: with also moves the cursor to the value."""
        mark = len(self.variables)
        value = self.pipeline(node.pipe, dot)
        if is_true(value):
            signal = self.walk(node.body, value if node.kind == "with" else dot)
        else:
            signal = self.walk(node.orelse, dot)
        del self.variables[mark:]
        return signal

    def walk_template(self, node: TemplateCall, dot: Value) -> None:
        """{{template "name" pipeline}}: the named template runs with its own $ and variables."""
        body = self.named.get(node.name)
        if body is None:
            raise TemplateError(f'no such template "{node.name}"')
        value = NO_VALUE if node.pipe is None else self.pipeline(node.pipe, dot)
        self.template_depth += 1
        if self.template_depth > _MAX_TEMPLATE_DEPTH:
            raise TemplateError(f"exceeded maximum template depth ({_MAX_TEMPLATE_DEPTH})")
        saved, self.variables = self.variables, [("$", value)]
        try:
            self.walk(body, value)
        finally:
            self.variables = saved
            self.template_depth -= 1

    def walk_range(self, node: Control, dot: Value) -> None:
        """{{range}} over a slice in order, or over a map in sorted key order as Go does."""
        mark = len(self.variables)
        value = self.pipeline(node.pipe, dot)
        del self.variables[mark:]
        if value is None or isinstance(value, NoValue):
            self.walk(node.orelse, dot)
            return
        pairs: list[tuple[Value, Value]]
        if isinstance(value, GoSlice):
            pairs = list(enumerate(value.items))
        elif isinstance(value, Mapping):
            pairs = [(key, value[key]) for key in sorted(value)]
        else:
            raise TemplateError(f"range can't iterate over {print_value(value)}")
        if not pairs:
            self.walk(node.orelse, dot)
            return
        for key, element in pairs:
            if self.one_iteration(node, key, element) == "break":
                break

    def one_iteration(self, node: Control, key: Value, element: Value) -> str | None:
        """Run a range body once, binding $v or $k, $v; return "break" if the body breaks."""
        self.iterations += 1
        if self.iterations > _MAX_LOOP_ITERATIONS:
            raise TemplateError(f"range loops ran more than {_MAX_LOOP_ITERATIONS} iterations")
        mark = len(self.variables)
        values: tuple[Value, ...] = (key, element) if len(node.pipe.decl) == 2 else (element,)
        for name, bound_value in zip(node.pipe.decl, values, strict=False):
            if node.pipe.is_assign:
                self.set_variable(name, bound_value)
            else:
                self.variables.append((name, bound_value))
        signal = self.walk(node.body, element)
        del self.variables[mark:]
        return signal

    def pipeline(self, pipe: Pipeline, dot: Value) -> Value:
        """Evaluate a pipeline and bind any declared or assigned variable."""
        result: Value | _Missing = _MISSING
        for cmd in pipe.cmds:
            result = self.command(cmd, dot, result)
        assert not isinstance(result, _Missing)  # the parser refuses empty pipelines
        for name in pipe.decl:
            if pipe.is_assign:
                self.set_variable(name, result)
            else:
                self.variables.append((name, result))
        return result

    def set_variable(self, name: str, value: Value) -> None:
        """{{ $x = ... }}: change the innermost variable of that name."""
        for index in range(len(self.variables) - 1, -1, -1):
            if self.variables[index][0] == name:
                self.variables[index] = (name, value)
                return
        raise TemplateError(f"undefined variable: {name}")

    def variable(self, name: str) -> Value:
        """The value of the innermost variable of that name."""
        for bound_name, value in reversed(self.variables):
            if bound_name == name:
                return value
        raise TemplateError(f"undefined variable: {name}")

    def command(self, cmd: Command, dot: Value, final: Value | _Missing) -> Value:
        """Evaluate one pipeline stage; final is the previous stage's value, if any."""
        first = cmd.args[0]
        try:
            if isinstance(first, FunctionRef):
                return self.call(first.name, cmd.args[1:], dot, final)
            if len(cmd.args) > 1 or not isinstance(final, _Missing):
                return self.call_method(first, cmd.args[1:], dot, final)
            return self.operand(first, dot)
        except TemplateError as exc:
            if str(exc).startswith("at <"):
                raise  # already located by an inner command
            raise TemplateError(f"at <{cmd.source}>: {exc}") from None

    def operand(self, node: Operand, dot: Value) -> Value:
        """Evaluate an operand on its own (not as a typed function argument)."""
        if isinstance(node, Literal):
            return node.value.ideal() if isinstance(node.value, Number) else node.value
        if isinstance(node, Nil):
            raise TemplateError("nil is not a command")
        if isinstance(node, Dot):
            return dot
        if isinstance(node, Variable):
            return _field_chain(self.variable(node.name), node.fields)
        if isinstance(node, Field):
            return _field_chain(dot, node.fields)
        if isinstance(node, FunctionRef):
            return self.call(node.name, (), dot, _MISSING)
        return _field_chain(self.pipeline(node.pipe, dot), node.fields)

    def call(self, name: str, args: Sequence[Operand], dot: Value, final: Value | _Missing) -> Value:
        """Call a template function with Go's argument count and type checks."""
        function = self.funcs[name]
        count = len(args) + (not isinstance(final, _Missing))
        _check_arity(name, function, count)
        thunks = [self.argument_thunk(function, position, arg, dot) for position, arg in enumerate(args)]
        if not isinstance(final, _Missing):
            piped = final
            thunks.append(lambda: _check_final_type(function, count - 1, piped))
        if function.lazy:
            # and/or evaluate their arguments themselves, and cannot fail otherwise.
            return function.call(*thunks)
        values = [thunk() for thunk in thunks]
        try:
            return function.call(*values)
        except TemplateError as exc:
            raise TemplateError(f"error calling {name}: {exc}") from None

    def call_method(self, first: Operand, args: Sequence[Operand], dot: Value, final: Value | _Missing) -> Value:
        """`.CommonLabels.Remove .GroupLabels.Names`: the last field of a chain, called as a method."""
        fields = getattr(first, "fields", ())
        if not fields:
            raise TemplateError(f"can't give argument to non-function {first.source}")
        if isinstance(first, Field):
            receiver = _field_chain(dot, fields[:-1])
        elif isinstance(first, Variable):
            receiver = _field_chain(self.variable(first.name), fields[:-1])
        else:
            assert isinstance(first, Chain)
            receiver = _field_chain(self.pipeline(first.pipe, dot), fields[:-1])
        method = _method(receiver, fields[-1])
        if method is None:
            raise TemplateError(f"can't give argument to non-function {first.source}")
        values = [self.operand(arg, dot) for arg in args]
        if not isinstance(final, _Missing):
            values.append(final)
        return method(*values)

    def argument_thunk(self, function: Function, position: int, arg: Operand, dot: Value) -> Callable[[], Value]:
        """Defer evaluating an argument (and and or only evaluate what they need)."""
        expected = _param_type(function, position)
        return lambda: self.argument(expected, arg, dot)

    def argument(self, expected: str, arg: Operand, dot: Value) -> Value:
        """Evaluate an argument for a parameter of Go type expected ("string" or "any")."""
        if isinstance(arg, Nil):
            if expected == "string":
                raise TemplateError("cannot assign nil to string")
            return None
        if isinstance(arg, Literal) and expected == "string":
            if not isinstance(arg.value, str):
                raise TemplateError(f"expected string; found {arg.source}")
            return arg.value
        value = self.operand(arg, dot)
        if expected == "string" and not isinstance(value, str):
            raise TemplateError(f"wrong type for value; expected string; got {go_type(value)}")
        return value


def _param_type(function: Function, position: int) -> str:
    """The Go type of the parameter at position ("any" for variadic extras)."""
    return function.params[position] if position < len(function.params) else "any"


def _check_arity(name: str, function: Function, count: int) -> None:
    """Go's "wrong number of args" checks."""
    fixed = len(function.params)
    if function.variadic and count < fixed:
        raise TemplateError(f"wrong number of args for {name}: want at least {fixed} got {count}")
    if not function.variadic and count != fixed:
        raise TemplateError(f"wrong number of args for {name}: want {fixed} got {count}")


def _check_final_type(function: Function, position: int, value: Value) -> Value:
    """Type-check a value piped into a function as its last argument."""
    if _param_type(function, position) == "string" and not isinstance(value, str):
        raise TemplateError(f"wrong type for value; expected string; got {go_type(value)}")
    return value


def _field_chain(receiver: Value, fields: Sequence[str]) -> Value:
    """Follow .Field/.key steps: struct fields of the alert data, keys of maps."""
    for name in fields:
        receiver = _field(receiver, name)
    return receiver


def _method(receiver: Value, name: str) -> Callable[..., Value] | None:
    """The method name of the receiver's Go type, if it has one (KV.SortedPairs, Alerts.Firing)."""
    if isinstance(receiver, (GoStruct, GoSlice, GoMap)):
        return receiver.go_method(name)
    return None


def _field(receiver: Value, name: str) -> Value:
    """One field step; a missing map key gives "" because Prometheus sets missingkey=zero."""
    method = _method(receiver, name)
    if method is not None:  # Go looks for a method before a field or map key
        return method()
    if isinstance(receiver, GoStruct):
        value = receiver.go_field(name)
        if value is None:
            raise TemplateError(f"can't evaluate field {name} in type {receiver.go_type_name}")
        return value
    if isinstance(receiver, Mapping):
        return receiver.get(name, "")
    if receiver is None or isinstance(receiver, NoValue):
        return NO_VALUE
    raise TemplateError(f"can't evaluate field {name} in type {go_type(receiver)}")
