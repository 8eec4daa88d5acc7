"""Vector and range selectors: matchers, lookback, staleness, offset and @."""

from __future__ import annotations

import pytest
from promql_fixtures import MINUTE, instant, lbl, make_store, vector

from agent.promql import PromQLError, RangeSeries

STORE = make_store(
    'req{job="api", code="200"} 1 2 3 4 5 6',
    'req{job="api", code="500"} 10 20 30 40 50 60',
    'req{job="web"} 7x5',
    'gone{job="x"} 1 stale',
)


def test_equality_matcher() -> None:
    assert vector(STORE, 'req{code="500"}', 2 * MINUTE) == {lbl('req{job="api", code="500"}'): 30.0}


def test_regex_matcher_is_fully_anchored() -> None:
    assert vector(STORE, 'req{code=~"5"}', 0) == {}


def test_negative_regex_matches_series_without_the_label() -> None:
    assert set(vector(STORE, 'req{code!~"2.."}', 0)) == {lbl('req{job="api", code="500"}'), lbl('req{job="web"}')}


def test_empty_value_matches_series_without_the_label() -> None:
    assert vector(STORE, 'req{code=""}', 0) == {lbl('req{job="web"}'): 7.0}


def test_name_regex_selects_across_families() -> None:
    assert len(vector(STORE, '{__name__=~"req|gone"}', 0)) == 4


def test_lookback_keeps_a_point_exactly_five_minutes_old() -> None:
    store = make_store("x 1")
    assert vector(store, "x", 5 * MINUTE) == {lbl("x"): 1.0}


def test_lookback_drops_an_older_point() -> None:
    store = make_store("x 1")
    assert vector(store, "x", 5 * MINUTE + 1) == {}


def test_custom_lookback() -> None:
    store = make_store("x 1")
    assert instant(store, "x", 2 * MINUTE, lookback_ms=MINUTE) == []


def test_stale_marker_ends_the_series() -> None:
    assert vector(STORE, "gone", MINUTE + 1) == {}


def test_offset_reads_the_past() -> None:
    assert vector(STORE, 'req{code="200"} offset 2m', 5 * MINUTE) == {lbl('req{job="api", code="200"}'): 4.0}


def test_at_pins_the_time() -> None:
    assert vector(STORE, 'req{code="200"} @ 60', 5 * MINUTE) == {lbl('req{job="api", code="200"}'): 2.0}


def test_at_start_is_the_evaluation_time() -> None:
    assert vector(STORE, 'req{code="200"} @ start()', 3 * MINUTE) == {lbl('req{job="api", code="200"}'): 4.0}


def test_range_selector_includes_both_ends() -> None:
    result = instant(STORE, 'req{code="200"}[2m]', 4 * MINUTE)
    assert isinstance(result, list) and isinstance(result[0], RangeSeries)
    series = result[0]
    assert (series.labels, list(series.times), list(series.values)) == (
        lbl('req{job="api", code="200"}'),
        [2 * MINUTE, 3 * MINUTE, 4 * MINUTE],
        [3.0, 4.0, 5.0],
    )


def test_range_selector_leaves_out_stale_markers() -> None:
    result = instant(STORE, "gone[5m]", 2 * MINUTE)
    assert isinstance(result, list) and len(result) == 1
    series = result[0]
    assert isinstance(series, RangeSeries)
    assert list(series.values) == [1.0]


@pytest.mark.parametrize("text", ["1", "1 + 2"])
def test_scalar_result_is_a_float(text: str) -> None:
    assert isinstance(instant(STORE, text, 0), float)


def test_string_result_is_a_str() -> None:
    assert instant(STORE, '"hello"', 0) == "hello"


def test_regex_matcher_digit_class_is_ascii_as_in_re2() -> None:
    """Python's `\\d` takes ARABIC-INDIC DIGIT THREE; Prometheus' RE2 does not."""
    store = make_store('req{code="\u0663"} 1', 'req{code="3"} 1')
    assert vector(store, 'req{code=~"\\\\d"}', 0) == {lbl('req{code="3"}'): 1.0}


def test_label_replace_word_class_is_ascii_as_in_re2() -> None:
    """Python's `\\w` takes `ü`; RE2's (Go's) is [0-9A-Za-z_], so the label is left alone."""
    store = make_store('req{city="z\u00fcrich"} 1', 'req{city="bern"} 1')
    got = vector(store, 'label_replace(req, "short", "$1", "city", "(\\\\w+)")', 0)
    assert {lbl('req{city="z\u00fcrich"}'): 1.0, lbl('req{city="bern", short="bern"}'): 1.0} == got


def test_label_replace_backreference_is_refused_as_go_refuses_it() -> None:
    """Python's re accepts `(a)\\1`; RE2 has no backreferences (Prometheus names the regex, not the cause)."""
    with pytest.raises(PromQLError, match=r"invalid regular expression in label_replace\(\): \(a\)\\1"):
        vector(make_store("req 1"), 'label_replace(req, "a", "$1", "b", "(a)\\\\1")', 0)
