"""Alertmanager's label matchers (`severity=~"critical|page"`): parsing, matching, printing.

The syntax is Alertmanager's classic one (pkg/labels/parse.go): a label name, one of
`=`, `!=`, `=~`, `!~`, and a value that may be double-quoted; a list is comma-separated and
may be wrapped in braces. Regular expressions are RE2 (Go's regexp), fully anchored, and a label
the alert does not have matches as the empty string.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from agent.gocompat.regex import Regex, RegexError, compile_anchored

_MATCHER = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*((?s:.*?))\s*$")


class MatcherError(ValueError):
    """A matcher that cannot be parsed; the message names it."""


class MatchType(enum.Enum):
    """The four operators; the order is Alertmanager's, which breaks ties when sorting."""

    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"

    @property
    def rank(self) -> int:
        """The type's place in `=`, `!=`, `=~`, `!~` order, for sorting matchers as Alertmanager does."""
        return list(MatchType).index(self)


@dataclass(frozen=True)
class Matcher:
    """One label matcher; constructing it compiles its regex or raises MatcherError."""

    name: str
    type: MatchType
    value: str
    _regex: Regex | None = field(init=False, default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.type in (MatchType.REGEX, MatchType.NOT_REGEX):
            try:
                regex = compile_anchored(self.value, dot_all=False)  # Alertmanager: `^(?:value)$`
            except RegexError as exc:
                raise MatcherError(f"invalid regular expression in matcher {self}: {exc}") from exc
            object.__setattr__(self, "_regex", regex)  # frozen: set once, here

    def matches(self, value: str) -> bool:
        """Whether a label's value (empty when the label is missing) satisfies this matcher."""
        if self.type is MatchType.EQUAL:
            return value == self.value
        if self.type is MatchType.NOT_EQUAL:
            return value != self.value
        assert self._regex is not None  # create() compiles it for both regex types
        found = self._regex.matches(value)
        return found if self.type is MatchType.REGEX else not found

    def __str__(self) -> str:
        return f'{self.name}{self.type.value}"{_escape(self.value)}"'

    @property
    def sort_key(self) -> tuple[str, str, int]:
        """Name, value, then type: the order matchers are printed and compared in."""
        return (self.name, self.value, self.type.rank)


Matchers = tuple[Matcher, ...]


def parse_matcher(text: str) -> Matcher:
    """One matcher such as `severity=~"critical|page"`; MatcherError naming it when it is bad."""
    found = _MATCHER.match(text)
    if found is None:
        raise MatcherError(f"bad matcher format: {text}")
    name, op, raw = found.groups()
    return Matcher(name, MatchType(op), _unquote(raw, text))


def parse_matchers(text: str) -> list[Matcher]:
    """A comma-separated list, optionally in braces: `{job="kafka", severity!="info"}`."""
    text = text.removeprefix("{").removesuffix("}")
    return [parse_matcher(token) for token in _split(text)]


def parse_matcher_list(items: Iterable[str]) -> Matchers:
    """A config `matchers:` list (each item may hold several), sorted as Alertmanager sorts it."""
    parsed = [m for item in items for m in parse_matchers(item)]
    return tuple(sorted(parsed, key=lambda m: m.sort_key))


def equality_matchers(pairs: Mapping[str, str], type: MatchType) -> list[Matcher]:
    """Matchers for the deprecated `match:` / `match_re:` maps."""
    return [Matcher(name, type, value) for name, value in pairs.items()]


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher accepts the label set (a missing label is the empty string)."""
    return all(m.matches(labels.get(m.name, "")) for m in matchers)


def format_matchers(matchers: Sequence[Matcher]) -> str:
    """`{a="1",b=~"x|y"}`, as Alertmanager prints a route's matchers in group keys."""
    return "{" + ",".join(str(m) for m in matchers) + "}"


def _split(text: str) -> list[str]:
    """Split on commas outside double quotes; a trailing comma is allowed."""
    tokens: list[str] = []
    current: list[str] = []
    inside_quotes = escaped = False
    for char in text:
        if char == "," and not inside_quotes:
            tokens.append("".join(current))
            current = []
            continue
        if char == '"':
            inside_quotes = inside_quotes if escaped else not inside_quotes
            escaped = False
        elif char == "\\":
            escaped = not escaped
        else:
            escaped = False
        current.append(char)
    last = "".join(current).strip()
    if last:
        tokens.append(last)
    return tokens


def _unquote(raw: str, text: str) -> str:
    """The value with OpenMetrics escapes (\\" \\n \\\\) resolved; other backslashes stay literal."""
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i < len(body) - 1:
            nxt = body[i + 1]
            out.append({"n": "\n", '"': '"', "\\": "\\"}.get(nxt, "\\" + nxt))
            i += 2
            continue
        if char == '"':
            if not quoted or i < len(body) - 1:
                raise MatcherError(f"matcher value contains unescaped double quote: {text.strip()}")
            quoted = False
        else:
            out.append(char)
        i += 1
    if quoted:
        raise MatcherError(f"matcher value contains unescaped double quote: {text.strip()}")
    return "".join(out)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
