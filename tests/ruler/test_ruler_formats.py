"""Go's printing of quoted strings and labels in promtool's reports."""

from __future__ import annotations

from agent.model import go_quote
from agent.ruler.gofmt import indent_lines, labels_string


def test_go_quote_escapes_quotes_backslashes_and_newlines() -> None:
    assert '"a\\"b\\\\c\\nd é"' == go_quote('a"b\\c\nd é')


def test_labels_string_keeps_the_given_order() -> None:
    assert '{__name__="up", job="a"}' == labels_string((("__name__", "up"), ("job", "a")))


def test_indent_lines_leaves_the_first_line_alone() -> None:
    assert "a\n  b\n  c" == indent_lines("a\nb\nc", "  ")
