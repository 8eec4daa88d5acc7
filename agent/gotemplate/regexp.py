"""Go's regexp for templates: RE2 syntax mapped onto Python's re for the common subset.

What the two engines read differently is refused rather than matched differently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from agent.gotemplate.value import TemplateError
from agent.model import go_quote

_POSIX_CLASSES: Mapping[str, str] = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_UNSUPPORTED_ESCAPES = frozenset("123456789pPQCZkgGX")
_UNSUPPORTED_GROUPS = ("(?=", "(?!", "(?<", "(?>", "(?#")


def _translate_regex(pattern: str) -> str:
    """Translate RE2 syntax to Python's; refuse what the two read differently.

    Go's $ (without the m flag) and \\z match only at the very end, like Python's \\Z;
    Python's $ also matches before a final newline. POSIX classes are spelled out.
    """
    multiline = re.search(r"\(\?[a-zA-Z]*m", pattern) is not None
    out: list[str] = []
    in_class = False
    pos = 0
    while pos < len(pattern):
        piece, pos, in_class = _translate_piece(pattern, pos, in_class, multiline)
        out.append(piece)
    return "".join(out)


def _translate_piece(pattern: str, pos: int, in_class: bool, multiline: bool) -> tuple[str, int, bool]:
    """Translate the regexp element at pos; return it, the next position and the bracket state."""
    char = pattern[pos]
    if char == "\\" and pos + 1 < len(pattern):
        escaped = pattern[pos + 1]
        if escaped in _UNSUPPORTED_ESCAPES:
            raise TemplateError(f"regexp: {go_quote(pattern)}: escape \\{escaped} is not supported by tripwired")
        return _translate_escape(escaped, in_class), pos + 2, in_class
    if in_class:
        if pattern.startswith("[:", pos):
            return _posix_class(pattern, pos)
        return char, pos + 1, char != "]"
    if pattern.startswith(_UNSUPPORTED_GROUPS, pos):
        raise TemplateError(f"regexp: {go_quote(pattern)}: lookaround and similar groups are not supported by Go")
    if char == "[":
        # A ] right after [ or [^ is a literal, not the end of the class.
        opening = "[^" if pattern.startswith("[^", pos) else "["
        after = pos + len(opening)
        if pattern.startswith("]", after):
            return opening + "\\]", after + 1, True
        return opening, after, True
    if char == "$" and not multiline:
        return "\\Z", pos + 1, False
    return char, pos + 1, False


def _translate_escape(escaped: str, in_class: bool) -> str:
    """Translate one backslash escape; Go's \\s, unlike Python's, leaves out the vertical tab."""
    if escaped == "s":
        return "\\t\\n\\f\\r " if in_class else "[\\t\\n\\f\\r ]"
    if escaped == "S" and not in_class:
        return "[^\\t\\n\\f\\r ]"
    if escaped == "z" and not in_class:
        return "\\Z"
    return "\\" + escaped


def _posix_class(pattern: str, pos: int) -> tuple[str, int, bool]:
    """Expand one [:name:] POSIX class inside a bracket expression."""
    close = pattern.find(":]", pos + 2)
    name = pattern[pos + 2 : close] if close >= 0 else ""
    if name not in _POSIX_CLASSES:
        raise TemplateError(f"regexp: {go_quote(pattern)}: POSIX class [:{name}:] is not supported by tripwired")
    return _POSIX_CLASSES[name], close + 2, True


def compile_regexp(pattern: str) -> re.Pattern[str]:
    """Compile a Go regular expression; \\d, \\w, \\s and \\b are ASCII-only in Go, as with re.ASCII."""
    try:
        return re.compile(_translate_regex(pattern), re.ASCII)
    except re.error as exc:
        raise TemplateError(f"error parsing regexp: {exc}: {go_quote(pattern)}") from exc


_GO_TEMPLATE_REF = re.compile(r"\$(?:\$|\{(\w*)\}|(\w+))")


def _expand_replacement(template: str, match: re.Match[str]) -> str:
    """Go's Regexp.Expand: $1, ${1}, $name, ${name}, $$; unknown groups expand to nothing."""

    def substitute(ref: re.Match[str]) -> str:
        """Replace one $-reference with the text of the group it names."""
        name = ref.group(1) if ref.group(1) is not None else ref.group(2)
        if name is None:
            return "$"
        if name.isdigit() and name.isascii():
            index = int(name)
            return (match.group(index) or "") if index <= (match.re.groups) else ""
        return (match.group(name) or "") if name in match.re.groupindex else ""

    return _GO_TEMPLATE_REF.sub(substitute, template)


def replace_all(pattern: str, replacement: str, text: str) -> str:
    """Go's Regexp.ReplaceAllString, whose handling of empty matches differs from re.sub."""
    regex = compile_regexp(pattern)
    out: list[str] = []
    last_end, search_at = 0, 0
    while search_at <= len(text):
        match = regex.search(text, search_at)
        if match is None:
            break
        start, end = match.span()
        out.append(text[last_end:start])
        # Go skips an empty match right after the previous match.
        if end > last_end or start == 0:
            out.append(_expand_replacement(replacement, match))
        last_end = end
        search_at = max(search_at + 1, end)
    out.append(text[last_end:])
    return "".join(out)


def match_string(pattern: str, text: str) -> bool:
    """Go's regexp.MatchString: does the pattern match anywhere in text."""
    return compile_regexp(pattern).search(text) is not None
