"""Go's printing of floats and labels in promtool's reports."""

from __future__ import annotations

import pytest

from agent.model import go_quote
from agent.ruler.gofmt import float_e, indent_lines, labels_string


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1E+00"),
        (0.0, "0E+00"),
        (1234.5, "1.2345E+03"),
        (1e-05, "1E-05"),
        (-2.5, "-2.5E+00"),
        (float("nan"), "NaN"),
        (float("-inf"), "-Inf"),
        (1e300, "1E+300"),
    ],
)
def test_float_e_matches_go_format_float_e(value: float, text: str) -> None:
    assert text == float_e(value)


def test_go_quote_escapes_quotes_backslashes_and_newlines() -> None:
    assert '"a\\"b\\\\c\\nd é"' == go_quote('a"b\\c\nd é')


def test_labels_string_keeps_the_given_order() -> None:
    assert '{__name__="up", job="a"}' == labels_string((("__name__", "up"), ("job", "a")))


def test_indent_lines_leaves_the_first_line_alone() -> None:
    assert "a\n  b\n  c" == indent_lines("a\nb\nc", "  ")
