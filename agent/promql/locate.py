"""Find where in an expression a promql-parser syntax error is, and say it the way Prometheus does.

promql-parser's errors carry no position ("invalid promql query", "unclosed left parenthesis"). A small
lexer that follows promql-parser's own (so the two agree on where tokens start) finds lexical errors
directly: a stray or unclosed bracket, an unterminated string, a bad character, escape or literal. For
grammar errors it finds the shortest token prefix that no completion turns into a parsable expression,
asking the parser itself about a few completions built from the open brackets and placeholder operands;
the token ending that prefix is the unexpected one. Positions are 1-based `line:column`, counted in
characters, as in Prometheus' `1:6: parse error: unexpected <op:*>`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import promql_parser

from agent.model import go_quote

# Token kinds.
IDENTIFIER = "identifier"
NUMBER = "number"
DURATION = "duration"
STRING = "string"
SYMBOL = "symbol"  # operators, brackets, commas, colons and label matching operators

SPACE = " \t\n\r\x0c"  # promql-parser's ASCII whitespace
ESCAPES = "abfnrtv\\"
CLOSERS = {"(": ")", "{": "}", "[": "]"}

AGGREGATORS = frozenset(
    (
        "sum",
        "avg",
        "count",
        "min",
        "max",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "count_values",
        "quantile",
        "limitk",
        "limit_ratio",
    )
)
WORD_OPERATORS = frozenset(("and", "or", "unless", "atan2"))
KEYWORDS = frozenset(("offset", "by", "without", "on", "ignoring", "group_left", "group_right", "bool"))
SPECIAL_NUMBERS = frozenset(("inf", "nan"))
SYMBOL_OPERATORS = frozenset(("+", "-", "*", "/", "%", "^", "==", "!=", "<", "<=", ">", ">=", "=~", "!~", "@"))

# Placeholders tried after a prefix (innermost position) and after each closing bracket. Together they
# complete every prefix of the expressions PromQL allows: an operand, a duration, a label matcher's
# value or operator, grouping labels and an aggregation body, call parentheses.
FILLERS = ("", " x", " 1", " 5m", ' "b"', " (x)", " (a) (x)", " (a) x", " (a)", ' ="b"', " ()")
AFTER_CLOSING = ("", " (x)", " x")
MAX_PARSES = 1000  # a failing check costs at most about 40, a passing one usually 1 to 5

# promql-parser's messages, by the lexical problem they report.
LEXICAL = (
    ("unclosed", re.compile(r"unclosed left parenthesis")),
    ("stray", re.compile(r"unexpected right (parenthesis|bracket|brace) ")),
    ("eof-inside", re.compile(r"unexpected end of input inside (braces|brackets)")),
    ("unterminated", re.compile(r"unterminated quoted string")),
    ("escape", re.compile(r"unknown escape sequence|escape sequence not terminated")),
    ("literal", re.compile(r"bad (?:number or )?duration syntax: (.*)", re.DOTALL)),
    (
        "character",
        re.compile(
            r"unexpected character|unexpected left brace|unexpected second colon|"
            r"expect duration before first colon|'!' can not be at the end|too many left parentheses"
        ),
    ),
)
# The bracket at the offset reported for a stray closer or an unclosed brace or bracket.
BRACKET_MESSAGES = (
    ("unexpected right parenthesis", ")"),
    ("unexpected right bracket", "]"),
    ("unexpected right brace", "}"),
    ("unexpected end of input inside braces", "{"),
    ("unexpected end of input inside brackets", "["),
)
# Literals the lexer accepts but the parser cannot convert.
BAD_VALUE = re.compile(
    r"not a valid duration string: (.*)|Parse(?:Float|Int)Error\. (.*) can't be parsed into \w+", re.DOTALL
)
# Errors of the grammar: everything up to some token parses, that token does not.
GRAMMAR = re.compile(
    r"invalid promql query|unexpected |invalid label matcher|trailing commas|Number expected|"
    r"aggregation operator expected|invalid @ modifier|missing unit|no expression found"
)
GENERIC = "invalid promql query"
TRAILING_COMMA = "trailing commas not allowed in function call args"


@dataclass(frozen=True)
class Token:
    """One token: its kind, text and offset, and the brackets still open after it (innermost last)."""

    kind: str
    text: str
    start: int
    open: tuple[str, ...]
    in_braces: bool = False

    @property
    def end(self) -> int:
        """The offset just past the token."""
        return self.start + len(self.text)


@dataclass(frozen=True)
class LexError:
    """Where lexing stopped: the kind of problem (as in LEXICAL) and the offset to report."""

    kind: str
    offset: int


@dataclass(frozen=True)
class Lexed:
    """The tokens before the first lexical error (comments dropped), that error, and bad numeric escapes."""

    tokens: tuple[Token, ...]
    error: LexError | None
    bad_escapes: tuple[int, ...]


@dataclass(frozen=True)
class Location:
    """A 0-based offset into the expression and the message to report there."""

    offset: int
    message: str


def is_alpha(char: str) -> bool:
    """Whether `char` may start an identifier (ASCII letter or `_`)."""
    return char == "_" or ("a" <= char <= "z") or ("A" <= char <= "Z")


def is_digit(char: str) -> bool:
    """Whether `char` is an ASCII digit."""
    return "0" <= char <= "9"


def is_alnum(char: str) -> bool:
    """Whether `char` may continue an identifier."""
    return is_alpha(char) or is_digit(char)


def is_hex_digit(char: str) -> bool:
    """Whether `char` is an ASCII hexadecimal digit."""
    return is_digit(char) or ("a" <= char <= "f") or ("A" <= char <= "F")


class Lexer:
    """promql-parser's lexer, keeping offsets and the open brackets."""

    def __init__(self, text: str, durations: bool = False) -> None:
        self.text = text
        self.durations = durations  # Prometheus 3's duration expressions inside brackets (`[5m + 1m]`)
        self.pos = 0
        self.parens: list[int] = []  # offsets of open '('
        self.brace: int | None = None  # offset of the open '{'
        self.bracket: int | None = None  # offset of the open '['
        self.colon = False  # a ':' was seen inside the open '['
        self.tokens: list[Token] = []
        self.bad_escapes: list[int] = []

    def peek(self, ahead: int = 0) -> str:
        """The character `ahead` places past the current one, or "" past the end."""
        at = self.pos + ahead
        return self.text[at] if at < len(self.text) else ""

    def open(self) -> tuple[str, ...]:
        """The brackets open at the current position, innermost last."""
        inner = ("{",) if self.brace is not None else ("[",) if self.bracket is not None else ()
        return ("(",) * len(self.parens) + inner

    def emit(self, kind: str, start: int) -> None:
        """Record the text from `start` to the current position as a token of `kind`."""
        text = self.text[start : self.pos]
        self.tokens.append(Token(kind, text, start, self.open(), in_braces=self.brace is not None and text != "{"))

    def run(self) -> Lexed:
        """Lex the whole text and return its tokens, first error and bad escapes."""
        error = self.lex()
        return Lexed(tuple(self.tokens), error, tuple(self.bad_escapes))

    def lex(self) -> LexError | None:
        """Emit tokens until the end or the first lexical error, which is returned."""
        while True:
            if self.brace is not None:
                error = self.inside_braces()
            elif self.bracket is not None:
                error = self.inside_brackets()
            elif self.pos >= len(self.text):
                return LexError("unclosed", self.parens[-1]) if self.parens else None
            else:
                error = self.statement()
            if error is not None:
                return error

    def statement(self) -> LexError | None:
        """Lex one token outside braces and brackets; returns the error that stops lexing, if any."""
        start, char = self.pos, self.peek()
        nxt = self.peek(1)
        if char in SPACE:
            self.pos += 1
        elif char == "#":
            self.comment()
        elif char in "@,*/%+-^":
            self.pos += 1
            self.emit(SYMBOL, start)
        elif char in "=<>":
            if char == "=" and nxt == "~":
                return LexError("character", start)
            self.pos += 2 if nxt == "=" else 1
            self.emit(SYMBOL, start)
        elif char == "!":
            if nxt != "=":
                return LexError("character", start)
            self.pos += 2
            self.emit(SYMBOL, start)
        elif is_digit(char) or (char == "." and is_digit(nxt)):
            return self.number_or_duration()
        elif char == ".":
            return LexError("character", start)
        elif is_alpha(char) or char == ":":
            self.pos += 1
            while is_alnum(self.peek()) or self.peek() == ":":
                self.pos += 1
            self.emit(IDENTIFIER, start)
        elif char in "\"'`":
            return self.string()
        elif char == "(":
            self.pos += 1
            self.parens.append(start)
            self.emit(SYMBOL, start)
        elif char == ")":
            if not self.parens:
                return LexError("stray", start)
            self.parens.pop()
            self.pos += 1
            self.emit(SYMBOL, start)
        elif char == "{":
            self.pos += 1
            self.brace = start
            self.emit(SYMBOL, start)
        elif char == "[":
            self.pos += 1
            self.bracket, self.colon = start, False
            self.emit(SYMBOL, start)
        elif char in "}]":
            return LexError("stray", start)
        else:
            return LexError("character", start)
        return None

    def inside_braces(self) -> LexError | None:
        """Lex one token of a label-matcher list (`{...}`)."""
        start, char = self.pos, self.peek()
        if not char:
            assert self.brace is not None
            return LexError("eof-inside", self.brace)
        if char in SPACE:
            self.pos += 1
        elif char == "#":
            self.comment()
        elif char == ",":
            self.pos += 1
            self.emit(SYMBOL, start)
        elif is_alpha(char):
            while is_alnum(self.peek()):
                self.pos += 1
            self.emit(IDENTIFIER, start)
        elif char in "\"'`":
            return self.string()
        elif char == "=":
            self.pos += 2 if self.peek(1) == "~" else 1
            self.emit(SYMBOL, start)
        elif char == "!":
            if self.peek(1) not in ("~", "="):
                return LexError("character", start)
            self.pos += 2
            self.emit(SYMBOL, start)
        elif char == "}":
            self.pos += 1
            self.brace = None
            self.emit(SYMBOL, start)
        else:
            return LexError("character", start)
        return None

    def inside_brackets(self) -> LexError | None:
        """Lex one token of a range or subquery (`[...]`)."""
        start, char = self.pos, self.peek()
        if not char:
            assert self.bracket is not None
            return LexError("eof-inside", self.bracket)
        if char in SPACE:
            self.pos += 1
        elif char == ":":
            if self.colon or self.text[start - 1] == "[":
                return LexError("character", start)
            self.colon = True
            self.pos += 1
            self.emit(SYMBOL, start)
        elif is_digit(char) or (self.durations and char == "." and is_digit(self.peek(1))):
            return self.number_or_duration()
        elif self.durations and char in "+-*/%^(),":
            self.pos += 1
            self.emit(SYMBOL, start)
        elif self.durations and is_alpha(char):
            self.accept_run(is_alnum)
            self.emit(IDENTIFIER, start)
        elif char == "]":
            self.pos += 1
            self.bracket, self.colon = None, False
            self.emit(SYMBOL, start)
        else:
            return LexError("character", start)
        return None

    def comment(self) -> None:
        """Skip a `#` comment up to the end of its line."""
        while self.peek() and self.peek() not in "\r\n":
            self.pos += 1

    def accept(self, chars: str) -> bool:
        """Consume the next character if it is one of `chars`; whether it did."""
        if self.peek() and self.peek() in chars:
            self.pos += 1
            return True
        return False

    def accept_run(self, test: Callable[[str], bool]) -> None:
        """Consume characters while `test` holds."""
        while self.peek() and test(self.peek()):
            self.pos += 1

    def number_or_duration(self) -> LexError | None:
        """Lex a number or, failing that, a duration."""
        start = self.pos
        if self.scan_number():
            self.emit(NUMBER, start)
            return None
        if self.remaining_duration():
            self.emit(DURATION, start)
            return None
        return LexError("literal", start)

    def scan_number(self) -> bool:
        """Consume a decimal or hexadecimal number; false when a letter or dot follows it."""
        digit: Callable[[str], bool] = is_digit
        if self.accept("0") and self.accept("xX"):
            digit = is_hex_digit
        self.accept_run(digit)
        if self.accept("."):
            self.accept_run(digit)
        if self.accept("eE"):
            self.accept("+-")
            self.accept_run(is_digit)
        return not (is_alpha(self.peek()) or self.peek() == ".")

    def remaining_duration(self) -> bool:
        """Consume the units and further parts of a duration after its first digits."""
        if not self.accept("smhdwy"):
            return False
        self.accept("s")
        while self.accept("0123456789"):
            self.accept_run(is_digit)
            if not self.accept("smhdw"):
                return False
            self.accept("s")
        return not is_alnum(self.peek())

    def string(self) -> LexError | None:
        """Lex a quoted string, checking its escapes."""
        start, quote = self.pos, self.peek()
        self.pos += 1
        while self.peek():
            char = self.peek()
            self.pos += 1
            if char == quote:
                self.emit(STRING, start)
                return None
            if char == "\\":
                error = self.escape(quote)
                if error is not None:
                    return error
        return LexError("unterminated", start)

    def escape(self, quote: str) -> LexError | None:
        """Check the escape after a backslash; records numeric escapes out of range in `bad_escapes`."""
        backslash, char = self.pos - 1, self.peek()
        if not char:
            return LexError("escape", backslash)
        self.pos += 1
        if char in ESCAPES or char == quote:
            return None
        digits = {"x": (2, 16, 255), "u": (4, 16, 0x10FFFF), "U": (8, 16, 0x10FFFF)}
        if char in digits:
            count, base, most = digits[char]
            value = self.text[self.pos : self.pos + count]
        elif "0" <= char <= "7":
            count, base, most = 3, 8, 255
            value = self.text[self.pos - 1 : self.pos + 2]
        else:
            return LexError("escape", backslash)
        try:
            number = int(value, base) if len(value) == count else -1
        except ValueError:
            number = -1
        if number < 0 or number > most or 0xD800 <= number < 0xE000:
            self.bad_escapes.append(backslash)
        return None


def lex(text: str, durations: bool = False) -> Lexed:
    """Lex `text` as promql-parser does (`durations`: and Prometheus 3's duration expressions), up to its
    first lexical error."""
    return Lexer(text, durations).run()


def describe(token: Token | None) -> str:
    """Prometheus' description of a token in "unexpected ..." messages."""
    if token is None:
        return "end of input"
    text = token.text
    if token.kind == IDENTIFIER:
        word = text.lower()
        if token.in_braces:
            return f"identifier {go_quote(text)}"
        if word in AGGREGATORS:
            return f"<aggr:{text}>"
        if word in WORD_OPERATORS:
            return f"<op:{text}>"
        if word in KEYWORDS:
            return f"<{text}>"
        if word in SPECIAL_NUMBERS:
            return f"number {go_quote(text)}"
        if word in ("start", "end"):
            return go_quote(text)
        return f"{'metric identifier' if ':' in text else 'identifier'} {go_quote(text)}"
    if token.kind == SYMBOL:
        return f"<op:{text}>" if text in SYMBOL_OPERATORS else go_quote(text)
    quoted = go_quote(text[:10]) + "..." if len(text) > 10 else go_quote(text)
    return f"{token.kind} {quoted}"


def position(text: str, offset: int) -> str:
    """The 1-based `line:column` of a 0-based offset."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{line}:{column}"


def lexical_kind(message: str) -> tuple[str, re.Match[str]] | None:
    """Which LEXICAL error kind promql-parser's message is, with the match, or None."""
    for kind, pattern in LEXICAL:
        match = pattern.match(message)
        if match:
            return kind, match
    return None


def is_syntax_error(message: str) -> bool:
    """Whether promql-parser's message is a lexical or grammar error (one this module can place)."""
    return lexical_kind(message) is not None or GRAMMAR.match(message) is not None


class BudgetError(Exception):
    """The completion search used up its parses."""


class Completer:
    """Decides whether a prefix of the expression can still be completed, asking the parser."""

    def __init__(self) -> None:
        self.parses = 0

    def syntax_ok(self, candidate: str) -> bool:
        """Whether `candidate` parses, or fails only for reasons other than its syntax."""
        self.parses += 1
        if self.parses > MAX_PARSES:
            raise BudgetError
        try:
            promql_parser.parse(candidate)
        except ValueError as exc:
            return not is_syntax_error(str(exc))
        return True

    def completable(self, prefix: str, open_brackets: tuple[str, ...]) -> bool:
        """Whether some completion of `prefix` parses: fill the innermost position, then close each
        bracket innermost first (choosing, greedily, what may follow each), keeping the rest closed."""
        closers = [CLOSERS[bracket] for bracket in reversed(open_brackets)]
        if not closers:
            return any(self.syntax_ok(prefix + filler) for filler in FILLERS)
        chosen: list[str] = []
        for level, closer in enumerate(closers):
            options = (
                [f + closer + a for f in FILLERS for a in AFTER_CLOSING]
                if level == 0
                else [closer + a for a in AFTER_CLOSING]
            )
            rest = "".join(closers[level + 1 :])
            for option in options:
                if self.syntax_ok(prefix + "".join(chosen) + option + rest):
                    chosen.append(option)
                    break
            else:
                return False
        return True


def grammar_error(text: str, tokens: tuple[Token, ...], message: str) -> Location | None:
    """The first token after which the expression cannot be completed, or the end of input.

    A prefix that cannot be completed stays so however it is extended, so the first such prefix is
    found by bisection: a dozen or so completability checks rather than one per token."""
    if not tokens:
        return None
    completer = Completer()

    def completable(count: int) -> bool:
        token = tokens[count - 1]
        return completer.completable(text[: token.end], token.open)

    try:
        if completable(len(tokens)):
            return Location(len(text), "unexpected end of input" if message == GENERIC else message)
        low, high = 0, len(tokens)  # the first `low` tokens can be completed, the first `high` cannot
        while high - low > 1:
            middle = (low + high) // 2
            if completable(middle):
                low = middle
            else:
                high = middle
    except BudgetError:
        return None
    index = high - 1
    if message == TRAILING_COMMA and index > 0 and tokens[index - 1].text == ",":
        return Location(tokens[index - 1].start, message)
    token = tokens[index]
    return Location(token.start, f"unexpected {describe(token)}" if message == GENERIC else message)


def literal(tokens: tuple[Token, ...], text: str, value: str, exact: bool) -> int | None:
    """The offset of the first number or duration token that is (or, lexing stopped there, starts) `value`."""
    for token in tokens:
        if token.kind in (NUMBER, DURATION) and (
            token.text == value or (not exact and text.startswith(value, token.start))
        ):
            return token.start
    return None


def locate(text: str, message: str) -> Location | None:
    """Where promql-parser's `message` about `text` applies, and Prometheus' wording for it; None when
    the message is not about syntax or the position cannot be found with confidence."""
    lexed = lex(text)
    lexical = lexical_kind(message)
    if lexical is not None:
        kind, match = lexical
        error = lexed.error
        if kind == "literal":
            if error is not None and error.kind == "literal" and text.startswith(match[1], error.offset):
                return Location(error.offset, message)
            found = literal(lexed.tokens, text, match[1], exact=False)
            return None if found is None else Location(found, message)
        if error is None or error.kind != kind:
            return None
        bracket = next((char for start, char in BRACKET_MESSAGES if message.startswith(start)), None)
        if bracket is not None and text[error.offset] != bracket:
            return None
        return Location(error.offset, message)
    value = BAD_VALUE.match(message)
    if value is not None:
        found = literal(lexed.tokens, text, value[1] or value[2], exact=True)
        return None if found is None else Location(found, message)
    if message == "invalid syntax":  # a numeric escape out of range, found when the string is unquoted
        return Location(lexed.bad_escapes[0], message) if lexed.bad_escapes else None
    if GRAMMAR.match(message) and lexed.error is None:
        return grammar_error(text, lexed.tokens, message)
    return None


def describe_error(text: str, message: str) -> str:
    """promql-parser's `message` about `text` as Prometheus would put it: `line:col: parse error: ...`
    when the position is known, `parse error: message` otherwise."""
    location = locate(text, message)
    if location is None:
        return f"parse error: {message}"
    return f"{position(text, location.offset)}: parse error: {location.message}"
