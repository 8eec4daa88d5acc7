"""Alertmanager's matcher syntax: parsing, anchored regexes, printing and errors."""

from __future__ import annotations

import pytest

from agent.notify.matchers import (
    MatcherError,
    MatchType,
    format_matchers,
    matches_all,
    parse_matcher,
    parse_matcher_list,
    parse_matchers,
)


@pytest.mark.parametrize(
    ("text", "name", "type", "value"),
    [
        ('severity="page"', "severity", MatchType.EQUAL, "page"),
        ("severity=page", "severity", MatchType.EQUAL, "page"),
        ('  job != "kafka" ', "job", MatchType.NOT_EQUAL, "kafka"),
        ('severity=~"critical|page"', "severity", MatchType.REGEX, "critical|page"),
        ("topic!~ingest.*", "topic", MatchType.NOT_REGEX, "ingest.*"),
        ('msg="say \\"hi\\"\\nnow"', "msg", MatchType.EQUAL, 'say "hi"\nnow'),
        ("path=C:\\dir", "path", MatchType.EQUAL, "C:\\dir"),
        ('empty=""', "empty", MatchType.EQUAL, ""),
    ],
)
def test_parse_matcher_reads_name_operator_and_unescaped_value(
    text: str, name: str, type: MatchType, value: str
) -> None:
    matcher = parse_matcher(text)
    assert (name, type, value) == (matcher.name, matcher.type, matcher.value)


@pytest.mark.parametrize("text", ["severity", "1abc=x", "=x", 'a="unterminated', 'a="x"y"'])
def test_bad_matcher_raises_an_error_naming_it(text: str) -> None:
    with pytest.raises(MatcherError) as info:
        parse_matcher(text)
    assert text.strip() in str(info.value)


def test_invalid_regex_raises_an_error_naming_the_matcher() -> None:
    with pytest.raises(MatcherError, match=r'severity=~"\(unclosed"'):
        parse_matcher('severity=~"(unclosed"')


def test_regex_is_anchored_at_both_ends() -> None:
    matcher = parse_matcher('topic=~"ingest"')
    assert [True, False, False] == [matcher.matches(v) for v in ("ingest", "ingest-2", "pre-ingest")]


def test_missing_label_matches_as_the_empty_string() -> None:
    assert matches_all(parse_matchers('team!="db"'), {"alertname": "Down"})
    assert not matches_all(parse_matchers('team=~".+"'), {"alertname": "Down"})


def test_list_with_braces_commas_in_quotes_and_trailing_comma() -> None:
    matchers = parse_matchers('{a="1,2", b=~"x|y", }')
    assert [("a", "1,2"), ("b", "x|y")] == [(m.name, m.value) for m in matchers]


def test_config_list_is_sorted_by_name_then_value_then_operator() -> None:
    matchers = parse_matcher_list(['b="2"', 'a!="1", a="1"'])
    assert '{a="1",a!="1",b="2"}' == format_matchers(matchers)


def test_printing_escapes_quotes_backslashes_and_newlines() -> None:
    assert 'msg="a\\"b\\\\c\\nd"' == str(parse_matcher('msg="a\\"b\\\\c\\nd"'))


def test_regex_digit_class_is_ascii_as_in_alertmanagers_re2() -> None:
    """Python's `\\d` takes ARABIC-INDIC DIGIT THREE; Alertmanager's Go regexp does not."""
    matcher = parse_matcher('shard=~"\\\\d"')
    assert (True, False) == (matcher.matches("3"), matcher.matches("\u0663"))


def test_regex_dot_stops_at_a_newline_as_in_alertmanager() -> None:
    """Alertmanager anchors `^(?:value)$` without the s flag, unlike Prometheus 3's label matchers."""
    assert not parse_matcher('summary=~"disk.*"').matches("disk\nfull")


def test_a_lookahead_python_would_take_is_refused() -> None:
    """Python's re accepts `(?!info)`; Go's regexp refuses it, so does the config check."""
    with pytest.raises(MatcherError, match="invalid perl operator"):
        parse_matcher('severity=~"(?!info).*"')
