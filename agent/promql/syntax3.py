"""Prometheus 3 syntax that promql-parser does not read, turned into text it does.

promql-parser (the Rust parser tripwired uses through its Python binding) reads Prometheus 3's
names, functions and fill modifiers, but not three later additions to the grammar. This module
reads those itself, on the lexer's tokens, before the text reaches the parser:

- **Duration expressions** (`[5m + 1m]`, `[2m * (10 + 5)]`, `offset (2 * 1m)`, `[step() * 2]`):
  evaluated here as Prometheus' durationVisitor does when a query starts (step() and range() are
  the query's, 0 for an instant query), and written back as a literal in milliseconds.
- **`anchored` and `smoothed`** after a vector or range selector: taken out of the text and kept in
  the selector itself as a matcher on MODIFIER_LABEL, which `modifier_of` reads and
  `matchers_of` leaves out, so the modifier travels with the AST wherever it goes.
- **fill modifiers** (`a + fill(0) b`): refused with Prometheus' own message, as a promtool or
  Prometheus without `--enable-feature=promql-binop-fill-modifiers` refuses them.

Errors are Prometheus' words at Prometheus' positions (`1:12: parse error: ...`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import promql_parser

from agent.gocompat.duration import parse_duration
from agent.promql.errors import PromQLError
from agent.promql.locate import DURATION, IDENTIFIER, KEYWORDS, NUMBER, SYMBOL, WORD_OPERATORS, Token, lex, position

MODIFIER_LABEL = "__tripwired_modifier__"
MODIFIERS = ("anchored", "smoothed")
FILL_MODIFIERS = ("fill", "fill_left", "fill_right")
# What may follow `offset` in a duration expression (a literal needs no rewriting).
_DURATION_START = frozenset(("(", "-", "+", "step", "range", "min_of", "max_of"))
_MAYBE = re.compile(r"\[|offset|anchored|smoothed|fill|info", re.IGNORECASE)  # what may need rewriting
# Binary operators by precedence, loosest first (Prometheus' generated_parser.y).
_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "unless": 2,
    "==": 3,
    "!=": 3,
    "<=": 3,
    "<": 3,
    ">=": 3,
    ">": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
    "atan2": 5,
    "^": 6,
}
_BINARY_MODIFIERS = frozenset(("on", "ignoring", "group_left", "group_right", *FILL_MODIFIERS))
_LABEL_LISTS = frozenset(("by", "without", "on", "ignoring", "group_left", "group_right"))
_MARKER = re.compile(rf'{MODIFIER_LABEL}="({"|".join(MODIFIERS)})",?\s*')
# What makes info()'s second argument readable when all its matchers accept "" (as Prometheus allows).
_INFO_MATCHER = f'{MODIFIER_LABEL}!=""'
_INFO_MARKER = re.compile(rf'{MODIFIER_LABEL}!="",?\s*')


def rewrite(text: str, step_ms: int = 0, range_ms: int = 0) -> str:
    """`text` as promql-parser must read it: duration expressions evaluated, modifiers moved into selectors.

    A text with lexical errors is returned as it is, for the parser to refuse and locate.
    """
    if not _MAYBE.search(text):
        return text
    lexed = lex(text, durations=True)
    if lexed.error is not None:
        return text
    _refuse_fill(text, lexed.tokens)
    text = _splice(text, _duration_edits(text, lexed.tokens, step_ms / 1000, range_ms / 1000))
    if not re.search(r"anchored|smoothed|info", text):
        return text
    lexed = lex(text, durations=True)
    if lexed.error is not None:
        return text
    return _splice(text, _modifier_edits(text, lexed.tokens) + _info_edits(lexed.tokens))


def modifier_of(selector: promql_parser.VectorSelector) -> str | None:
    """`anchored`, `smoothed` or None: the extended range selector modifier written after `selector`."""
    for matcher in selector.matchers.matchers:
        if matcher.name == MODIFIER_LABEL and matcher.value in MODIFIERS:
            return str(matcher.value)
    return None


def matchers_of(selector: promql_parser.VectorSelector) -> list[promql_parser.Matcher]:
    """The selector's label matchers as the user wrote them (without the modifier's)."""
    return [m for m in selector.matchers.matchers if m.name != MODIFIER_LABEL]


def show(expr: promql_parser.Expr) -> str:
    """The expression printed as Prometheus prints it, `anchored`/`smoothed` back after their selectors."""
    text: str = _INFO_MARKER.sub("", expr.prettify())  # always the first matcher: its comma goes with it
    while (found := _MARKER.search(text)) is not None:
        before, after = text[: found.start()], text[found.end() :]
        if "," not in found[0]:  # the last matcher: the comma before it goes
            before = before.rstrip(", ")
        if before.endswith("{") and after.startswith("}"):
            before, after = before[:-1], after[1:]
        # The modifier goes after the selector's range and its offset and @ modifiers.
        tail = re.match(r"[^\s\[]*?(\[[^\]]*\])?( offset -?\S+?)?( @ \S+?)?(?=[\s),]|$)", after)
        cut = tail.end() if tail is not None else 0
        text = f"{before}{after[:cut]} {found[1]}{after[cut:]}"
    return text


def _splice(text: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _error(text: str, offset: int, message: str) -> PromQLError:
    return PromQLError(f"{position(text, offset)}: parse error: {message}")


# Duration expressions.


def _duration_edits(text: str, tokens: Sequence[Token], step_s: float, range_s: float) -> list[tuple[int, int, str]]:
    edits = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.text == "[" and token.kind == SYMBOL:
            close = next(j for j in range(i + 1, len(tokens)) if tokens[j].text == "]")
            colons = [j for j in range(i + 1, close) if tokens[j].text == ":"]
            for first, last in zip([i + 1, *(c + 1 for c in colons)], [*colons, close], strict=True):
                if first < last:
                    edits.extend(_duration(text, tokens[first:last], step_s, range_s, negative=False))
            i = close
        elif (
            token.kind == IDENTIFIER and token.text.lower() == "offset" and not token.in_braces and i + 1 < len(tokens)
        ):
            end = _offset_end(tokens, i + 1)
            if end is not None:
                edits.extend(_duration(text, tokens[i + 1 : end], step_s, range_s, negative=True))
                i = end - 1
        i += 1
    return edits


def _is_offset(token: Token) -> bool:
    return token.kind == IDENTIFIER and token.text.lower() == "offset" and not token.in_braces


def _offset_end(tokens: Sequence[Token], start: int) -> int | None:
    """Where the duration after `offset` ends: [sign] literal, step(), range(), min_of/max_of(...), (...)."""
    i = start
    if tokens[i].text in ("-", "+"):
        i += 1
    if i >= len(tokens):
        return None
    if tokens[i].kind in (NUMBER, DURATION):
        return i + 1
    if tokens[start].text.lower() not in _DURATION_START and tokens[i].text.lower() not in _DURATION_START:
        return None
    if tokens[i].text.lower() in ("step", "range", "min_of", "max_of"):
        i += 1
    if i >= len(tokens) or tokens[i].text != "(":
        return None
    close = _closing(tokens, i)
    return close + 1 if close >= 0 else None


def _duration(
    text: str, tokens: Sequence[Token], step_s: float, range_s: float, *, negative: bool
) -> list[tuple[int, int, str]]:
    """The edit writing a range, step or offset as a literal, if it is not one already."""
    if len(tokens) == 1 and tokens[0].kind == DURATION:
        return []
    start, end = tokens[0].start, tokens[-1].end
    seconds = _DurationParser(text, tokens, step_s, range_s).parse()
    literal = len(tokens) == 1 or (len(tokens) == 2 and tokens[0].text in "+-")
    if math.isnan(seconds) or math.isinf(seconds):
        raise PromQLError(f"{start}:{end}: duration is NaN or infinite")
    if seconds <= 0 and not negative:
        if literal:
            raise _error(text, start, "duration must be greater than 0")
        raise PromQLError(f"{start}:{end}: duration must be greater than 0")
    if abs(seconds) > 2**63 / 1e9:
        raise (
            _error(text, start, "duration out of range")
            if literal
            else PromQLError(f"{start}:{end}: duration is out of range")
        )
    # A literal is rounded to the nanosecond, an expression's value truncated to the millisecond.
    ms = round(seconds * 1000) if literal else int(seconds * 1000)
    # promql-parser refuses a zero duration literal (`offset 0s`) but reads `offset 0`.
    return [(start, end, f"-{-ms}ms" if ms < 0 else f"{ms}ms" if ms else "0")]


class _DurationParser:
    """Prometheus' duration_expr grammar by recursive descent: `+ -` < `* / %` < unary < `^`."""

    def __init__(self, text: str, tokens: Sequence[Token], step_s: float, range_s: float) -> None:
        self.text, self.tokens, self.i = text, tokens, 0
        self.step_s, self.range_s = step_s, range_s

    def parse(self) -> float:
        value = self.sum()
        if self.i < len(self.tokens):
            raise self.unexpected()
        return value

    def peek(self) -> str:
        return self.tokens[self.i].text if self.i < len(self.tokens) else ""

    def take(self, wanted: str) -> None:
        if self.peek() != wanted:
            raise self.unexpected()
        self.i += 1

    def unexpected(self) -> PromQLError:
        if self.i >= len(self.tokens):
            return _error(self.text, self.tokens[-1].end, "unexpected end of duration expression")
        token = self.tokens[self.i]
        return _error(self.text, token.start, f"unexpected {token.text!r} in duration expression")

    def sum(self) -> float:
        value = self.product()
        while self.peek() in ("+", "-"):
            op = self.peek()
            self.i += 1
            right = self.product()
            value = value + right if op == "+" else value - right
        return value

    def product(self) -> float:
        value = self.unary()
        while self.peek() in ("*", "/", "%"):
            op, at = self.peek(), self.tokens[self.i].start
            self.i += 1
            right = self.unary()
            if op == "*":
                value *= right
            elif right == 0:
                raise _error(self.text, at, "division by zero" if op == "/" else "modulo by zero")
            else:
                value = value / right if op == "/" else math.fmod(value, right)
        return value

    def unary(self) -> float:
        if self.peek() in ("+", "-"):
            sign = -1.0 if self.peek() == "-" else 1.0
            self.i += 1
            return sign * self.unary()
        return self.power()

    def power(self) -> float:
        base = self.atom()
        if self.peek() != "^":
            return base
        self.i += 1
        try:
            return math.pow(base, self.unary())  # right-associative
        except (OverflowError, ValueError):
            return math.inf

    def atom(self) -> float:
        token = self.tokens[self.i] if self.i < len(self.tokens) else None
        if token is None:
            raise self.unexpected()
        self.i += 1
        if token.kind == NUMBER:
            return float(token.text) if not token.text.lower().startswith("0x") else float(int(token.text, 16))
        if token.kind == DURATION:
            return parse_duration(token.text) / 1000
        keyword = token.text.lower() if token.kind == IDENTIFIER else ""  # keywords are case-insensitive
        if keyword in ("step", "range"):
            self.take("(")
            self.take(")")
            return self.step_s if keyword == "step" else self.range_s
        if keyword in ("min_of", "max_of"):
            self.take("(")
            left = self.sum()
            self.take(",")
            right = self.sum()
            self.take(")")
            return min(left, right) if keyword == "min_of" else max(left, right)
        if token.text == "(":
            value = self.sum()
            self.take(")")
            return value
        self.i -= 1
        raise self.unexpected()


# anchored and smoothed.


def _ends_operand(token: Token) -> bool:
    if token.kind == IDENTIFIER:
        return token.text.lower() not in WORD_OPERATORS | KEYWORDS
    return token.kind in (NUMBER, DURATION) or token.text in (")", "]", "}")


def _modifier_edits(text: str, tokens: Sequence[Token]) -> list[tuple[int, int, str]]:
    edits: list[tuple[int, int, str]] = []
    names: dict[int, list[tuple[int, int, str]]] = {}  # `anchored` used as a name, by token
    marked: dict[int, str] = {}  # selector start token -> modifier
    for i, token in enumerate(tokens):
        if token.kind != IDENTIFIER or token.text not in MODIFIERS or token.in_braces:
            continue
        if i == 0 or not _ends_operand(tokens[i - 1]):
            names[i] = _as_name(tokens, i)
            continue
        first, braces = _selector_before(text, tokens, i, token.text)
        if first in marked:
            raise _error(text, tokens[first].start, "anchored and smoothed modifiers cannot be used together")
        marked[first] = token.text
        edits.append((tokens[i - 1].end, token.end, ""))
        matcher = f'{MODIFIER_LABEL}="{token.text}"'
        if first in names:  # `anchored[5m] anchored`: the name goes into the braces with the modifier
            names[first] = [(tokens[first].start, tokens[first].end, "")]
            matcher = f'__name__="{tokens[first].text}", {matcher}'
            if braces is None:
                names[first] = [(tokens[first].start, tokens[first].end, "{" + matcher + "}")]
                continue
        if braces is None:
            edits.append((tokens[first].end, tokens[first].end, "{" + matcher + "}"))
        else:
            empty = tokens[braces + 1].text == "}"
            edits.append((tokens[braces].end, tokens[braces].end, matcher if empty else matcher + ", "))
    return edits + [edit for name_edits in names.values() for edit in name_edits]


def _as_name(tokens: Sequence[Token], i: int) -> list[tuple[int, int, str]]:
    """`anchored` or `smoothed` used as a name, which promql-parser takes for the keyword: quoted."""
    token = tokens[i]
    opener = _enclosing(tokens, i) if i > 0 and tokens[i - 1].text in ("(", ",") else -1
    if opener > 0 and tokens[opener - 1].text.lower() in _LABEL_LISTS:
        return [(token.start, token.end, f'"{token.text}"')]  # a grouping label: `by ("anchored")`
    name = f'__name__="{token.text}"'
    if i + 1 < len(tokens) and tokens[i + 1].text == "{":
        empty = i + 2 < len(tokens) and tokens[i + 2].text == "}"
        return [(token.start, token.end, ""), (tokens[i + 1].end, tokens[i + 1].end, name if empty else name + ", ")]
    return [(token.start, token.end, "{" + name + "}")]


def _selector_before(text: str, tokens: Sequence[Token], at: int, modifier: str) -> tuple[int, int | None]:
    """The selector a modifier at token `at` belongs to: its first token and its `{` token (if any)."""
    k = _skip_modifiers(tokens, at - 1)
    node = "vector"
    if tokens[k].text == "]":
        k = max(j for j in range(k) if tokens[j].text == "[")
        node = "subquery" if any(t.text == ":" for t in tokens[k:at]) else "matrix"
        k -= 1
    if node != "subquery" and k >= 0 and tokens[k].text == "}":
        braces = max(j for j in range(k) if tokens[j].text == "{")
        named = braces > 0 and tokens[braces - 1].kind == IDENTIFIER and _ends_operand(tokens[braces - 1])
        return (braces - 1 if named else braces), braces
    if node != "subquery" and k >= 0 and tokens[k].kind == IDENTIFIER and _ends_operand(tokens[k]):
        return k, None
    start = _expression_start(tokens, k)
    if node == "subquery":
        raise _error(text, tokens[start].start, f"{modifier} modifier is not supported for subqueries")
    raise _error(text, tokens[start].start, f"{modifier} modifier not implemented")


def _skip_modifiers(tokens: Sequence[Token], k: int) -> int:
    """Step back over `offset d`, `@ t` (`@ start()`, `@ end()`) and modifiers ending at token `k`."""
    while k > 0:
        if tokens[k].kind == IDENTIFIER and tokens[k].text in MODIFIERS:  # `x[5m] anchored smoothed`
            k -= 1
            continue
        if tokens[k].kind in (NUMBER, DURATION):
            j = k - 1 if tokens[k - 1].text in ("-", "+") else k
            if tokens[j - 1].text.lower() == "offset" or tokens[j - 1].text == "@":
                k = j - 2
                continue
        if tokens[k].text == ")" and k >= 3 and tokens[k - 1].text == "(" and tokens[k - 3].text == "@":
            k -= 4
            continue
        return k
    return k


def _expression_start(tokens: Sequence[Token], k: int) -> int:
    """The first token of the operand ending at token `k`: a call's name, an opening parenthesis, a name."""
    if k < 0:
        return 0
    if tokens[k].text == "]":  # a subquery: the start of what it ranges over
        return _expression_start(tokens, max(j for j in range(k) if tokens[j].text == "[") - 1)
    if tokens[k].text != ")":
        return k
    opener = _opening(tokens, k)
    return opener - 1 if opener > 0 and tokens[opener - 1].kind == IDENTIFIER else max(opener, 0)


# info()'s data-label selector.


def _info_edits(tokens: Sequence[Token]) -> list[tuple[int, int, str]]:
    """`info(v, {data=~".*"})`: Prometheus accepts a second argument whose matchers all accept the
    empty string, promql-parser does not; a matcher that cannot (and that the compiler leaves out)
    makes it readable."""
    edits = []
    for i, token in enumerate(tokens[:-1]):
        if token.kind != IDENTIFIER or token.text != "info" or tokens[i + 1].text != "(" or token.in_braces:
            continue
        depth = 0
        for j in range(i + 1, len(tokens) - 1):
            depth += _paren(tokens[j])
            if depth == 0:
                break
            if depth == 1 and tokens[j].text == "," and tokens[j + 1].text == "{":
                empty = tokens[j + 2].text == "}" if j + 2 < len(tokens) else True
                edits.append((tokens[j + 1].end, tokens[j + 1].end, _INFO_MATCHER if empty else _INFO_MATCHER + ", "))
                break
    return edits


# fill modifiers.


def _refuse_fill(text: str, tokens: Sequence[Token]) -> None:
    for i, token in enumerate(tokens):
        is_fill = token.kind == IDENTIFIER and token.text.lower() in FILL_MODIFIERS and not token.in_braces
        if not is_fill or i + 1 >= len(tokens) or tokens[i + 1].text != "(":
            continue
        op = _operator_before(tokens, i - 1)
        if op is not None:
            start = _binary_start(tokens, op)
            raise _error(text, tokens[start].start, "binop fill modifiers are experimental and not enabled")


def _operator_before(tokens: Sequence[Token], k: int) -> int | None:
    """The binary operator a fill modifier at token k + 1 belongs to, stepping back over on(...), bool etc."""
    while k >= 0:
        text = tokens[k].text.lower()
        if (tokens[k].kind == SYMBOL and text in _PRECEDENCE) or (tokens[k].kind == IDENTIFIER and text in _PRECEDENCE):
            return k
        if text in ("bool", "group_left", "group_right"):  # group_x without labels
            k -= 1
        elif text == ")":
            opener = _opening(tokens, k)
            if opener < 1 or tokens[opener - 1].text.lower() not in _BINARY_MODIFIERS:
                return None
            k = opener - 2
        else:
            return None
    return None


def _enclosing(tokens: Sequence[Token], i: int) -> int:
    """The innermost parenthesis still open at token `i` (-1 if none)."""
    depth = 0
    for j in range(i - 1, -1, -1):
        depth -= _paren(tokens[j])
        if depth < 0:  # an opening parenthesis no closing one after it matches
            return j
    return -1


def _opening(tokens: Sequence[Token], k: int) -> int:
    """The parenthesis that the `)` at token `k` closes (-1 if none)."""
    depth = 0
    for j in range(k, -1, -1):
        depth -= _paren(tokens[j])
        if depth == 0:
            return j
    return -1


def _closing(tokens: Sequence[Token], i: int) -> int:
    """The parenthesis that closes the `(` at token `i` (-1 if none)."""
    depth = 0
    for j in range(i, len(tokens)):
        depth += _paren(tokens[j])
        if depth == 0:
            return j
    return -1


def _paren(token: Token) -> int:
    """+1 for an opening parenthesis, -1 for a closing one, 0 for anything else."""
    return {"(": 1, ")": -1}.get(token.text, 0) if token.kind == SYMBOL else 0


def _binary_start(tokens: Sequence[Token], op: int) -> int:
    """The first token of the binary expression whose operator is token `op` (its left operand's start)."""
    precedence = _PRECEDENCE[tokens[op].text.lower()]
    depth, start = 0, op
    for j in range(op - 1, -1, -1):
        token = tokens[j]
        if token.kind == SYMBOL and token.text in (")", "]", "}"):
            depth += 1
        elif token.kind == SYMBOL and token.text in ("(", "[", "{"):
            if depth == 0:
                return start
            depth -= 1
        elif depth == 0 and token.text == ",":
            return start
        elif depth == 0 and token.text.lower() in _PRECEDENCE and j > 0 and _ends_operand(tokens[j - 1]):
            other = _PRECEDENCE[token.text.lower()]
            if other < precedence or (other == precedence and precedence == _PRECEDENCE["^"]):
                return start
        start = j
    return start
