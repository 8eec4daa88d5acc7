"""Binary operators: Go float semantics, name dropping, vector matching and its errors."""

from __future__ import annotations

import math
import re

import pytest
from promql_fixtures import V3, instant, lbl, make_store, vector

from agent.promql import EvalError

STORE = make_store(
    'used{fs="a", host="h"} 30',
    'used{fs="b", host="h"} 0',
    'size{fs="a", host="h"} 120',
    'size{fs="b", host="h"} 0',
    'lag{topic="t", partition="0"} 10',
    'lag{topic="t", partition="1"} 4',
    'parts{topic="t", owner="o"} 2',
    'dup{topic="t", x="1"} 1',
    'dup{topic="t", x="2"} 1',
)


def test_arithmetic_drops_the_name() -> None:
    assert vector(STORE, 'used{fs="a"} / size', 0) == {lbl('{fs="a", host="h"}'): 0.25}


def test_division_by_zero_is_infinite_not_an_exception() -> None:
    assert vector(STORE, 'used{fs="a"} / 0', 0) == {lbl('{fs="a", host="h"}'): math.inf}


def test_modulo_takes_the_sign_of_the_dividend() -> None:
    assert instant(STORE, "-7 % 3", 0) == -1.0


def test_power_of_zero_to_negative_is_infinite() -> None:
    assert instant(STORE, "0 ^ -1", 0) == math.inf


def test_filter_comparison_keeps_name_and_value() -> None:
    assert vector(STORE, "used > 10", 0) == {lbl('used{fs="a", host="h"}'): 30.0}


def test_bool_comparison_drops_name_and_keeps_all() -> None:
    assert vector(STORE, "used > bool 10", 0) == {lbl('{fs="a", host="h"}'): 1.0, lbl('{fs="b", host="h"}'): 0.0}


def test_scalar_on_the_left_of_a_filter_keeps_the_vector_value() -> None:
    assert vector(STORE, "10 < used", 0) == {lbl('used{fs="a", host="h"}'): 30.0}


def test_scalar_comparison_with_bool() -> None:
    assert instant(STORE, "2 >= bool 3", 0) == 0.0


def test_one_to_one_on_keeps_only_the_on_labels() -> None:
    assert vector(STORE, "used + on(fs) size", 0) == {lbl('{fs="a"}'): 150.0, lbl('{fs="b"}'): 0.0}


def test_group_left_copies_labels_from_the_one_side() -> None:
    assert vector(STORE, "lag * on(topic) group_left(owner) parts", 0) == {
        lbl('{topic="t", partition="0", owner="o"}'): 20.0,
        lbl('{topic="t", partition="1", owner="o"}'): 8.0,
    }


def test_group_right_keeps_the_left_operand_order_of_values() -> None:
    assert vector(STORE, "parts - on(topic) group_right lag", 0) == {
        lbl('{topic="t", partition="0"}'): -8.0,
        lbl('{topic="t", partition="1"}'): -2.0,
    }


def test_many_to_many_is_an_error() -> None:
    with pytest.raises(EvalError, match="many-to-many matching not allowed"):
        instant(STORE, "lag * on(topic) dup", 0)


def test_many_to_one_without_group_left_is_an_error() -> None:
    with pytest.raises(EvalError, match="many-to-one matching must be explicit"):
        instant(STORE, "lag * on(topic) parts", 0)


def test_duplicate_labelset_after_dropping_the_name_is_an_error() -> None:
    with pytest.raises(EvalError, match="same labelset"):
        instant(make_store('a{x="1"} 1', 'b{x="1"} 2'), '{__name__=~"a|b"} * 2', 0)


def test_and_keeps_left_samples_with_a_match() -> None:
    assert vector(STORE, "used and on(fs) (size > 0)", 0) == {lbl('used{fs="a", host="h"}'): 30.0}


def test_or_adds_right_samples_without_a_match() -> None:
    result = vector(STORE, 'used{fs="a"} or on(fs) size', 0)
    assert result == {lbl('used{fs="a", host="h"}'): 30.0, lbl('size{fs="b", host="h"}'): 0.0}


def test_unless_drops_left_samples_with_a_match() -> None:
    assert vector(STORE, "used unless on(fs) (size > 0)", 0) == {lbl('used{fs="b", host="h"}'): 0.0}


def test_unary_minus_drops_the_name() -> None:
    assert vector(STORE, '-used{fs="a"}', 0) == {lbl('{fs="a", host="h"}'): -30.0}


def test_many_to_many_error_names_the_two_series_in_sorted_order_in_3() -> None:
    store = make_store('m{a="1", job="j"} 1', 'm{a="2", job="j"} 2', 'n{job="j"} 3')
    pair = re.escape('[{__name__="m", a="1", job="j"}, {__name__="m", a="2", job="j"}];')
    with pytest.raises(EvalError, match=pair):
        instant(store, "n - ignoring(a) m", 0, V3)
