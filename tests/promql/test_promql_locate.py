"""Parse errors say where in the expression they are, as Prometheus' `1:6: parse error: ...` does."""

from __future__ import annotations

import pytest

from agent.promql import PromQLError, parse_expr
from agent.promql import locate as locate_module
from agent.promql.locate import Completer, lex


def error_of(text: str) -> str:
    with pytest.raises(PromQLError) as info:
        parse_expr(text)
    return str(info.value)


def test_unclosed_parenthesis_points_at_the_opener() -> None:
    assert error_of("sum(up") == "1:4: parse error: unclosed left parenthesis"


def test_of_several_unclosed_parentheses_the_innermost_is_reported() -> None:
    assert error_of("sum(rate(x[5m]") == "1:9: parse error: unclosed left parenthesis"


def test_stray_closing_parenthesis_points_at_itself() -> None:
    assert error_of("rate(x[5m]))") == "1:12: parse error: unexpected right parenthesis ')'"


def test_stray_closing_bracket_points_at_itself() -> None:
    assert error_of("up]") == "1:3: parse error: unexpected right bracket ']'"


def test_unclosed_brace_points_at_the_opener() -> None:
    assert error_of('up{a="b"') == "1:3: parse error: unexpected end of input inside braces"


def test_unclosed_bracket_points_at_the_opener() -> None:
    assert error_of("up[5m") == "1:3: parse error: unexpected end of input inside brackets"


def test_unexpected_operator_is_named_as_prometheus_does() -> None:
    assert error_of("up + * 3") == "1:6: parse error: unexpected <op:*>"


def test_unexpected_identifier_is_named_and_quoted() -> None:
    assert error_of("foo bar") == '1:5: parse error: unexpected identifier "bar"'


def test_missing_comma_in_grouping_points_at_the_second_label() -> None:
    assert error_of("sum by (a b) (x)") == '1:11: parse error: unexpected identifier "b"'


def test_unexpected_keyword_is_named_in_angle_brackets() -> None:
    assert error_of("sum(x) by (a) by (b)") == "1:15: parse error: unexpected <by>"


def test_long_unexpected_string_is_cut_to_ten_characters() -> None:
    assert error_of('x "abcdefghijklmnop"') == '1:3: parse error: unexpected string "\\"abcdefghi"...'


def test_incomplete_expression_points_past_its_end() -> None:
    assert error_of("1 +") == "1:4: parse error: unexpected end of input"


def test_specific_parser_message_is_kept_with_the_position() -> None:
    assert error_of("up offset") == "1:10: parse error: unexpected end of input in offset, expected duration"


def test_bad_duration_points_at_the_literal() -> None:
    assert error_of("rate(up[5x])") == "1:9: parse error: bad number or duration syntax: 5x"


def test_unparsable_duration_value_points_at_the_literal() -> None:
    assert error_of("x[1.5m]") == "1:3: parse error: not a valid duration string: 1.5m"


def test_unterminated_string_points_at_its_quote() -> None:
    assert error_of('label_replace(x, "a') == '1:18: parse error: unterminated quoted string "'


def test_unknown_escape_points_at_the_backslash() -> None:
    assert error_of('foo{a="b\\q"}') == "1:9: parse error: unknown escape sequence 'q'"


def test_unexpected_character_points_at_itself() -> None:
    assert error_of("up $") == "1:4: parse error: unexpected character: '$'"


def test_character_after_bang_points_at_the_bang() -> None:
    assert error_of("x !y") == "1:3: parse error: unexpected character after '!': 'y'"


def test_trailing_comma_points_at_the_comma() -> None:
    assert error_of("rate(x[5m],)") == "1:11: parse error: trailing commas not allowed in function call args"


def test_multi_line_grammar_error_gives_line_and_column() -> None:
    text = "sum by (job) (\n  rate(x[5m])\n  + * 2\n)"
    assert error_of(text) == "3:5: parse error: unexpected <op:*>"


def test_multi_line_bad_literal_gives_line_and_column() -> None:
    assert error_of("sum(\n  rate(x[5x])\n)") == "2:10: parse error: bad number or duration syntax: 5x"


def test_comments_are_skipped() -> None:
    assert error_of("x # a * comment\n+ * 1") == "2:3: parse error: unexpected <op:*>"


def test_columns_count_characters_not_bytes() -> None:
    assert error_of('"é" + * 1') == "1:7: parse error: unexpected <op:*>"


def test_semantic_error_keeps_the_parsers_message_without_position() -> None:
    assert error_of("abs()") == "parse error: expected 1 argument(s) in call to 'abs', got 0"


def test_empty_expression_has_no_position() -> None:
    assert error_of("") == "parse error: no expression found in input"


def test_search_out_of_parses_keeps_the_parsers_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locate_module, "MAX_PARSES", 0)
    assert error_of("up + * 3") == "parse error: invalid promql query"


@pytest.mark.parametrize(
    "text",
    [
        'histogram_quantile(0.9, sum by (le) (rate(x{job="a",}[5m])))',
        "avg by (a) (x) / on(a) group_left(b) sum without () (y) > bool 1",
        'count_values("v", x) or vector(0) unless ignoring(a) y',
        "min_over_time(rate(x[5m])[30m:1m] offset -1h) @ start()",
        'label_replace(-x ^ 2, "a", "$1", "b", "(.*)")',
    ],
)
def test_every_prefix_of_a_valid_expression_is_completable(text: str) -> None:
    completer = Completer()
    assert all(completer.completable(text[: token.end], token.open) for token in lex(text).tokens)
