"""Go's regexp (RE2) through one helper: anchoring, shortcuts, errors and Regexp.Expand."""

from __future__ import annotations

import re

import pytest

from agent.gocompat.regex import RegexError, compile_anchored, compile_unanchored, expand

ARABIC_INDIC_THREE = "\u0663"


def test_digit_class_is_ascii_only_in_re2_but_not_in_python() -> None:
    assert re.fullmatch(r"\d", ARABIC_INDIC_THREE) is not None
    assert not compile_anchored(r"\d").matches(ARABIC_INDIC_THREE)


def test_dollar_is_the_end_of_the_text_not_before_a_final_newline() -> None:
    assert re.match(r"^(?:abc)$", "abc\n") is not None
    assert not compile_anchored("abc").matches("abc\n")
    assert not compile_unanchored("abc$").matches("abc\n")


@pytest.mark.parametrize(("pattern", "reason"), [(r"(a)\1", "invalid escape sequence"), ("a(?=b)", "perl operator")])
def test_what_python_accepts_and_re2_refuses_is_an_error(pattern: str, reason: str) -> None:
    re.compile(pattern)
    with pytest.raises(RegexError, match=f"error parsing regexp: .*{reason}"):
        compile_anchored(pattern)


def test_an_error_names_the_pattern_as_written_not_as_anchored() -> None:
    with pytest.raises(RegexError) as raised:
        compile_anchored("(")
    assert "error parsing regexp: missing ): (" == str(raised.value)


def test_unicode_classes_python_lacks_are_read() -> None:
    assert compile_anchored(r"\pL+").matches("héllo")


def test_dot_matches_a_newline_only_with_dot_all() -> None:
    assert (True, False) == (
        compile_anchored("a.b").matches("a\nb"),
        compile_anchored("a.b", dot_all=False).matches("a\nb"),
    )


PATTERNS = [
    *["", "foo", "a|b|", "foo.*", ".*foo", ".*foo.*", ".*", ".+", "x|.*", "(a)|b", "fo+", ".*.*", "[a|b]"],
    *[r"a\.b", r"a\|b", r"a\.b|x", r".*\.com", r"a\\.*", r"\.*", r"\d", r"a\-b", r"\Qa.b\E"],
]
VALUES = ["", "foo", "foobar", "barfoo", "barfoobaz", "a", "b", "fo\no", "foo\n", "\n", "x", "|", "[a"]
VALUES += ["a.b", "a|b", "axb", "x.com", "a\\", "a\\x", "..", "7", "a-b", "a\\.b"]


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("dot_all", [True, False])
def test_shortcuts_answer_as_re2_does(pattern: str, dot_all: bool) -> None:
    shortcut = compile_anchored(pattern, dot_all=dot_all)
    wrapped = compile_unanchored(("^(?s:" if dot_all else "^(?:") + pattern + ")$")
    assert [wrapped.matches(v) for v in VALUES] == [shortcut.matches(v) for v in VALUES]


def test_search_gives_groups_by_number_and_name() -> None:
    match = compile_anchored(r"(?P<host>[^:]+):(\d+)").search("db1:9100")
    assert match is not None
    assert ("db1", "9100", (0, 8)) == (match.group("host"), match.group(2), match.span())


@pytest.mark.parametrize(
    ("template", "expanded"),
    [
        ("$1-${2}", "db1-9100"),
        ("$host.x", "db1.x"),  # `.` ends a name
        ("$1x", ""),  # `1x` is one name, and no group has it
        ("$$1", "$1"),
        ("$01", ""),  # a leading zero makes a name, not group 1
        ("${1", "${1"),  # unclosed: a literal dollar
        ("$", "$"),
        ("$9", ""),
    ],
)
def test_expand_reads_references_as_go_does(template: str, expanded: str) -> None:
    match = compile_anchored(r"(?P<host>[^:]+):(\d+)").search("db1:9100")
    assert match is not None
    assert expanded == expand(template, match)


@pytest.mark.parametrize("pattern", ["foo", "a|b", r"10\.0\.0\.1", "foo.*", ".*foo", ".*foo.*", ".+"])
def test_prometheus_shortcut_patterns_do_not_call_re2(pattern: str) -> None:
    assert compile_anchored(pattern).shortcut


def test_compiled_patterns_are_cached() -> None:
    assert compile_anchored("job-[0-9]+") is compile_anchored("job-[0-9]+")


def test_undecodable_bytes_of_a_path_read_as_go_reads_them() -> None:
    """A mount point with a byte that is not UTF-8 (a lone surrogate in Python) neither crashes nor vanishes."""
    path = "/mnt/" + b"\xff".decode("utf-8", "surrogateescape") + "x"
    match = compile_anchored("(/mnt/)(.)x").search(path)
    assert match is not None
    assert (True, "\udcff") == (compile_unanchored("^/mnt/.x").matches(path), match.group(2))
