"""The lexer: template text into tokens, with {{- -}} trimming and comments dropped."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.gotemplate.strconv import unquote
from agent.gotemplate.value import TemplateError
from agent.model import go_quote

REFUSED_KEYWORDS = frozenset({"define", "template", "block"})
_KEYWORDS = frozenset({"if", "else", "end", "range", "with", "break", "continue"}) | REFUSED_KEYWORDS


@dataclass(frozen=True)
class Token:
    """One lexical item: its kind, its text (decoded for strings) and its offset."""

    kind: str
    text: str
    pos: int


_SPACE_CHARS = " \t\r\n"
_SINGLE_CHAR_TOKENS = {"|": "pipe", "(": "lparen", ")": "rparen", ",": "comma", "=": "assign"}
_WORD = re.compile(r"\w*")
_NUMBER_CHARS = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?[0-9_]*)?"
    r"|0[oO][0-7_]*(?:\.[0-7_]*)?|0[bB][01_]*(?:\.[01_]*)?"
    r"|[0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9_]*)?)i?"
)


def _is_alnum(char: str) -> bool:
    """Go's isAlphaNumeric: underscore, letters and digits."""
    return char == "_" or char.isalnum()


class Lexer:
    """Splits template text into tokens, applying {{- and -}} trimming and dropping comments."""

    def __init__(self, text: str, prelude_len: int = 0) -> None:
        self.text = text
        self.prelude_len = prelude_len
        self.pos = 0
        self.tokens: list[Token] = []
        self.trim_next_text = False

    def run(self) -> list[Token]:
        """Tokenize the whole text."""
        while self.pos < len(self.text):
            self._lex_text()
            if self.pos < len(self.text):
                self._lex_action()
        self.tokens.append(Token("eof", "", len(self.text)))
        return self.tokens

    def _error(self, message: str, pos: int | None = None) -> TemplateError:
        """An error located at the current position (or the given one)."""
        return positioned_error(self.text, self.pos if pos is None else pos, message, self.prelude_len)

    def _lex_text(self) -> None:
        """Emit the text up to the next {{, trimmed as neighbouring trim markers ask."""
        start = self.text.find("{{", self.pos)
        end = len(self.text) if start < 0 else start
        text = self.text[self.pos : end]
        if self.trim_next_text:
            text = text.lstrip(_SPACE_CHARS)
        if start >= 0 and self._has_left_trim(start):
            text = text.rstrip(_SPACE_CHARS)
        if text:
            self.tokens.append(Token("text", text, self.pos))
        self.pos = end

    def _has_left_trim(self, delim: int) -> bool:
        """Is the {{ at delim followed by the trim marker "- " (so "{{-3}}" is still minus three)?"""
        marker = self.text[delim + 2 : delim + 4]
        return len(marker) == 2 and marker[0] == "-" and marker[1] in _SPACE_CHARS

    def _lex_action(self) -> None:
        """Lex one {{ ... }} action or comment."""
        start = self.pos
        self.pos += 4 if self._has_left_trim(start) else 2
        if self.text.startswith("/*", self.pos):
            self._lex_comment()
            return
        self.tokens.append(Token("left", "{{", start))
        while not self._at_right_delim():
            self._lex_inside_action()

    def _at_right_delim(self) -> bool:
        """Consume a right delimiter (with its trim marker) if one starts here."""
        rest = self.text[self.pos :]
        trimmed = len(rest) >= 4 and rest[0] in _SPACE_CHARS and rest[1:4] == "-}}"
        if not trimmed and not rest.startswith("}}"):
            return False
        self.tokens.append(Token("right", "}}", self.pos))
        self.pos += 4 if trimmed else 2
        self.trim_next_text = trimmed
        return True

    def _lex_comment(self) -> None:
        """Skip a {{/* */}} comment, which must end right at the closing delimiter."""
        close = self.text.find("*/", self.pos + 2)
        if close < 0:
            raise self._error("unclosed comment")
        self.pos = close + 2
        if not self._at_right_delim():
            raise self._error("comment ends before closing delimiter")
        self.tokens.pop()  # the comment's right delimiter carries no meaning

    def _lex_inside_action(self) -> None:
        """Lex one item inside an action."""
        if self.pos >= len(self.text):
            raise self._error("unclosed action")
        char = self.text[self.pos]
        if char in _SPACE_CHARS:
            self._lex_space()
        elif char in _SINGLE_CHAR_TOKENS:
            self._emit(_SINGLE_CHAR_TOKENS[char], 1)
        elif char == ":":
            if not self.text.startswith(":=", self.pos):
                raise self._error("expected :=")
            self._emit("declare", 2)
        elif char in "\"`'":
            self._lex_quote(char)
        elif char == "$":
            self._lex_word("variable", 1)
        elif char == "." and self.text[self.pos + 1 : self.pos + 2].isdigit():
            self._lex_number()
        elif char == ".":
            self._lex_word("field", 1)
        elif char in "+-" or char.isdigit():
            self._lex_number()
        elif _is_alnum(char):
            self._lex_identifier()
        else:
            raise self._error(f"unrecognized character in action: {go_quote(char)}")

    def _emit(self, kind: str, length: int) -> None:
        """Emit the next length characters as one token."""
        self.tokens.append(Token(kind, self.text[self.pos : self.pos + length], self.pos))
        self.pos += length

    def _lex_space(self) -> None:
        """Emit a run of spaces, which separate arguments."""
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _SPACE_CHARS:
            # Leave the space of " -}}" to the right delimiter.
            if self.text.startswith("-}}", self.pos + 1):
                break
            self.pos += 1
        # run() checks for " -}}" before lexing a space, so at least one space was read.
        self.tokens.append(Token("space", self.text[start : self.pos], start))

    def _check_terminator(self) -> None:
        """Go requires a word to be followed by a space, delimiter or punctuation."""
        rest = self.text[self.pos :]
        if rest and rest[0] not in _SPACE_CHARS + ".,|:)(" and not rest.startswith("}}"):
            raise self._error(f"bad character {go_quote(rest[0])}")

    def _lex_word(self, kind: str, prefix: int) -> None:
        """Emit a variable ($x) or field (.X), or a lone dot."""
        word = _WORD.match(self.text, self.pos + prefix)
        assert word is not None
        self._emit(kind if word.end() > self.pos + prefix or kind != "field" else "dot", word.end() - self.pos)
        self._check_terminator()

    def _lex_identifier(self) -> None:
        """Emit a keyword, bool, nil or function name."""
        word = _WORD.match(self.text, self.pos)
        assert word is not None
        text = word.group()
        if text in _KEYWORDS:
            kind = "keyword"
        elif text in ("true", "false"):
            kind = "bool"
        elif text == "nil":
            kind = "nil"
        else:
            kind = "identifier"
        self._emit(kind, len(text))
        self._check_terminator()

    def _lex_number(self) -> None:
        """Emit a numeric constant in Go syntax."""
        number = _NUMBER_CHARS.match(self.text, self.pos)
        assert number is not None
        end = number.end()
        if end == self.pos or (end < len(self.text) and _is_alnum(self.text[end])):
            raise self._error(f"bad number syntax: {go_quote(self.text[self.pos : end + 1])}")
        self._emit("number", end - self.pos)

    def _lex_quote(self, quote: str) -> None:
        """Emit a quoted, raw or character literal, decoded."""
        end = self.pos + 1
        while True:
            if end >= len(self.text) or (quote != "`" and self.text[end] == "\n"):
                raise self._error(f"unterminated {_QUOTE_NAMES[quote]}")
            if self.text[end] == "\\" and quote != "`":
                end += 2
                continue
            if self.text[end] == quote:
                break
            end += 1
        kind = {"`": "string", '"': "string", "'": "char"}[quote]
        self.tokens.append(Token(kind, unquote(self.text[self.pos : end + 1]), self.pos))
        self.pos = end + 1
        self._check_terminator()


_QUOTE_NAMES = {"`": "raw quoted string", '"': "quoted string", "'": "character constant"}


def positioned_error(text: str, pos: int, message: str, prelude_len: int = 0) -> TemplateError:
    """Build an error naming the line and column of pos in the user's template.

    text may start with a prelude of prelude_len characters that the user did not write
    (Prometheus' variable declarations); positions are counted after it.
    """
    user_pos = max(pos - prelude_len, 0)
    user_text = text[prelude_len:]
    line = user_text.count("\n", 0, user_pos) + 1
    column = user_pos - (user_text.rfind("\n", 0, user_pos) + 1) + 1
    return TemplateError(f"{line}:{column}: {message}")
