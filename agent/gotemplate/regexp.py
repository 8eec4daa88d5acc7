"""Go's regexp for templates' `match` and `reReplaceAll`: RE2 patterns, unanchored, as Go compiles them."""

from __future__ import annotations

from agent.gocompat.regex import Regex, RegexError, compile_unanchored, expand
from agent.gotemplate.value import TemplateError
from agent.model import go_quote


def compile_regexp(pattern: str) -> Regex:
    """Compile a Go regular expression (RE2), or a TemplateError naming it."""
    try:
        return compile_unanchored(pattern)
    except RegexError as exc:
        raise TemplateError(f"{exc}: {go_quote(pattern)}") from exc


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
            out.append(expand(replacement, match))
        last_end = end
        search_at = max(search_at + 1, end)
    out.append(text[last_end:])
    return "".join(out)


def match_string(pattern: str, text: str) -> bool:
    """Go's regexp.MatchString: does the pattern match anywhere in text."""
    return compile_regexp(pattern).matches(text)
