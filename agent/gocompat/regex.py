r"""Go's regular expressions (RE2) for every pattern a user writes where Prometheus reads RE2.

Prometheus, Alertmanager and Go templates compile patterns with Go's regexp package, whose syntax
and semantics are RE2's, not Python's `re`: `\d` is ASCII only, `$` is the end of the text (not
also before a final newline), and backreferences and lookaround are refused. tripwired compiles
them with RE2 itself (google-re2), anchored the way each place anchors them:

- `compile_anchored`: label matchers and label_replace in PromQL (`^(?s:p)$` in Prometheus 3,
  `^(?:p)$` in 2.x), relabelling (`^(?s:p)$`), Alertmanager's matchers (`^(?:p)$`);
- `compile_unanchored`: templates' `match` and `reReplaceAll`, as regexp.MustCompile(p).

`Regex.matches` is the hot path (a PromQL matcher runs per series per evaluation): literals,
literal alternations and `prefix.*`-style patterns take the shortcuts Prometheus' FastRegexMatcher
takes, with the same result RE2 gives; the rest calls RE2 directly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import re2

Predicate = Callable[[str], bool]

# Answers remembered per pattern: a matcher meets the same label values at every evaluation, and
# a dict lookup costs a fifth of a call into RE2. Cleared when full, so memory stays bounded.
MEMO_SIZE = 65_536
# The characters that make a pattern more than a literal string (RE2 syntax).
_META = frozenset("\\.+*?()|[]{}^$")


class RegexError(ValueError):
    """A pattern RE2 (Go's regexp) refuses; the message is Go's `error parsing regexp: ...`."""


class Match:
    """One match: its span and its groups, as Go's Regexp.FindStringSubmatchIndex gives them."""

    __slots__ = ("_match", "_text", "regex")

    def __init__(self, regex: Regex, match: Any, text: str) -> None:
        self.regex = regex
        self._match = match
        self._text = text

    def group(self, key: int | str = 0) -> str | None:
        """The text of a group by number or name; None when it did not take part; IndexError when absent."""
        number = key if isinstance(key, int) else self.regex.group_names.get(key, -1)
        start, end = self._match.span(number)
        return None if start < 0 else self._text[start:end]

    def span(self) -> tuple[int, int]:
        """Where the whole match starts and ends, in characters."""
        start, end = self._match.span()
        return int(start), int(end)


class Regex:
    """A compiled pattern; `pattern` is the text as written (without the anchoring added)."""

    def __init__(self, pattern: str, compiled: Any, predicate: Predicate | None) -> None:
        self.pattern = pattern
        self._compiled = compiled
        # The wrapper's per-call work (offset mapping, Match objects) triples the cost of a
        # yes/no answer; the RE2 object under it answers from the UTF-8 bytes directly.
        self._raw = compiled._regexp
        self._unanchored = re2._Anchor.UNANCHORED
        self._memo: dict[str, bool] = {}
        self.shortcut = predicate is not None  # True when plain Python answers `matches`, without RE2
        self.matches: Predicate = predicate or self._re2_matches

    @property
    def group_count(self) -> int:
        """How many capturing groups the pattern has."""
        return int(self._compiled.groups)

    @property
    def group_names(self) -> dict[str, int]:
        """Named groups and their numbers."""
        return dict(self._compiled.groupindex)

    def search(self, text: str, pos: int = 0) -> Match | None:
        """The leftmost match at or after `pos` (Go's leftmost-first semantics), or None."""
        found = self._compiled.search(_valid_utf8(text), pos)
        return None if found is None else Match(self, found, text)

    def _re2_matches(self, text: str) -> bool:
        known = self._memo.get(text)
        if known is not None:
            return known
        try:
            data = text.encode()
        except UnicodeEncodeError:
            data = _valid_utf8(text).encode()
        found = bool(self._raw.Match(self._unanchored, data, 0, len(data))[0][0] >= 0)
        if len(self._memo) >= MEMO_SIZE:
            self._memo.clear()
        self._memo[text] = found
        return found


def _valid_utf8(text: str) -> str:
    """The text with lone surrogates (undecodable bytes of a path) as U+FFFD, which is how Go reads them.

    Same length, so spans found in the result are spans in the text.
    """
    try:
        text.encode()
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)
    return text


def compile_anchored(pattern: str, *, dot_all: bool = True) -> Regex:
    """A pattern that must match the whole text: `^(?s:pattern)$`, or `^(?:pattern)$` without dot_all."""
    return _compile_anchored(pattern, dot_all)


def compile_unanchored(pattern: str) -> Regex:
    """A pattern that may match anywhere, as Go's regexp.Compile(pattern) (templates)."""
    return _compile_unanchored(pattern)


@functools.lru_cache(maxsize=1024)
def _compile_anchored(pattern: str, dot_all: bool) -> Regex:
    wrapped = ("^(?s:" if dot_all else "^(?:") + pattern + ")$"
    try:
        compiled = _compile(wrapped)
    except RegexError:
        _compile(pattern)  # the error about the text as written, when it has one of its own
        raise
    return Regex(pattern, compiled, _fast_path(pattern, dot_all))


@functools.lru_cache(maxsize=1024)
def _compile_unanchored(pattern: str) -> Regex:
    return Regex(pattern, _compile(pattern), None)


def _compile(source: str) -> Any:
    """RE2's compiled form of `source`; RegexError with RE2's reason when it refuses it."""
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern on stderr
    try:
        return re2.compile(source, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise RegexError(f"error parsing regexp: {reason}") from None


def _fast_path(pattern: str, dot_all: bool) -> Predicate | None:
    r"""A plain-Python predicate equal to RE2's anchored answer for the simplest patterns, or None.

    As Prometheus' FastRegexMatcher: a literal (escaped punctuation included, `10\.0\.0\.1`),
    an alternation of literals, and a literal with `.*` before, after or around it. Without
    dot_all, `.` does not match a newline, so those with `.` go to RE2.
    """
    if pattern in (".*", ".+"):
        return _any_text(dot_all, allow_empty=pattern == ".*")
    literals = [_literal(text) for text in _alternatives(pattern)]
    if all(text is not None for text in literals):
        return frozenset(literals).__contains__ if len(literals) > 1 else (literals[0] or "").__eq__
    starts = pattern.startswith(".*")
    body = pattern[2:] if starts else pattern
    ends = body.endswith(".*")
    middle = _literal(body[:-2] if ends else body)
    if not (starts or ends) or not middle:
        return None
    if starts and ends:
        return _guard_newline(lambda text: middle in text, dot_all)
    test: Predicate = (lambda text: text.endswith(middle)) if starts else (lambda text: text.startswith(middle))
    return _guard_newline(test, dot_all)


def _alternatives(pattern: str) -> list[str]:
    """The pattern split at each `|` that is not escaped (groups and classes are left to _literal to refuse)."""
    parts, start, pos = [], 0, 0
    while pos < len(pattern):
        if pattern[pos] == "\\":
            pos += 2
            continue
        if pattern[pos] == "|":
            parts.append(pattern[start:pos])
            start = pos + 1
        pos += 1
    parts.append(pattern[start:])
    return parts


def _literal(text: str) -> str | None:
    """The string a literal pattern stands for, or None when `text` is more than a literal.

    A literal has no operator, class, group or anchor, and no escape but of ASCII punctuation
    (which Go and RE2 read as the character itself).
    """
    out: list[str] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "\\":
            escaped = text[pos + 1 : pos + 2]
            if not escaped or not escaped.isascii() or escaped.isalnum():
                return None
            out.append(escaped)
            pos += 2
            continue
        if char in _META:
            return None
        out.append(char)
        pos += 1
    return "".join(out)


def _any_text(dot_all: bool, *, allow_empty: bool) -> Predicate | None:
    """`.*` (anything) or `.+` (anything but the empty string), when `.` matches every character."""
    test: Predicate = (lambda text: True) if allow_empty else bool
    return _guard_newline(test, dot_all)


def _guard_newline(test: Predicate, dot_all: bool) -> Predicate | None:
    """The shortcut where `.` matches a newline too; otherwise None (RE2 answers)."""
    if dot_all:
        return test
    return None  # `.` stops at a newline there; rare enough (Prometheus 2 semantics) to leave to RE2


def expand(template: str, match: Match) -> str:
    """Go's Regexp.ExpandString: `$1`, `${1}`, `$name`, `${name}`, `$$`; unknown groups give "".

    As Go: a name is letters, digits and `_`; a number with a leading zero (`$01`) is a name, not
    group 1; a malformed reference (`${1`, a lone `$`) is a literal `$`.
    """
    out: list[str] = []
    pos = 0
    while True:
        dollar = template.find("$", pos)
        if dollar < 0:
            out.append(template[pos:])
            return "".join(out)
        out.append(template[pos:dollar])
        if template.startswith("$$", dollar):
            out.append("$")
            pos = dollar + 2
            continue
        name, end = _reference(template, dollar + 1)
        if name is None:
            out.append("$")
            pos = dollar + 1
            continue
        out.append(_group_text(match, name))
        pos = end


def _reference(template: str, start: int) -> tuple[str | None, int]:
    """The group name after a `$` at start-1 and where the reference ends; (None, start) when malformed."""
    braced = template.startswith("{", start)
    pos = start + 1 if braced else start
    end = pos
    while end < len(template) and (template[end].isalnum() or template[end] == "_"):
        end += 1
    if end == pos:
        return None, start
    if braced:
        if not template.startswith("}", end):
            return None, start
        return template[pos:end], end + 1
    return template[pos:end], end


def _group_text(match: Match, name: str) -> str:
    number = _group_number(name)
    try:
        text = match.group(number) if number is not None else match.group(name)
    except IndexError:
        return ""
    return text or ""


def _group_number(name: str) -> int | None:
    """Go's reading of a reference as a group number: ASCII digits, no leading zero, below 1e8."""
    if not (name.isascii() and name.isdigit()) or (name[0] == "0" and len(name) > 1) or len(name) > 8:
        return None
    return int(name)
