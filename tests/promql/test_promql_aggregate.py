"""Aggregation operators and their grouping."""

from __future__ import annotations

import math

import pytest
from promql_fixtures import instant, lbl, make_store, vector

from agent.promql import EvalError

STORE = make_store(
    'disk{wh="lake", path="/a", tier="hot"} 10',
    'disk{wh="lake", path="/b", tier="hot"} 30',
    'disk{wh="lake", path="/c", tier="cold"} 50',
    'disk{wh="sea", path="/d", tier="cold"} 70',
)


def test_sum_without_grouping_has_no_labels() -> None:
    assert vector(STORE, "sum(disk)", 0) == {(): 160.0}


def test_by_keeps_only_the_listed_labels() -> None:
    assert vector(STORE, "sum by (wh) (disk)", 0) == {lbl('{wh="lake"}'): 90.0, lbl('{wh="sea"}'): 70.0}


def test_without_drops_the_listed_labels_and_the_name() -> None:
    assert vector(STORE, "max without (path, tier) (disk)", 0) == {lbl('{wh="lake"}'): 50.0, lbl('{wh="sea"}'): 70.0}


def test_by_name_keeps_the_name() -> None:
    assert vector(STORE, "count by (__name__) (disk)", 0) == {lbl("disk"): 4.0}


@pytest.mark.parametrize(
    ("op", "value"),
    [("avg", 40.0), ("min", 10.0), ("max", 70.0), ("count", 4.0), ("group", 1.0), ("stdvar", 500.0)],
)
def test_simple_aggregations(op: str, value: float) -> None:
    assert vector(STORE, f"{op}(disk)", 0) == {(): value}


def test_stddev_is_the_population_standard_deviation() -> None:
    assert vector(STORE, "stddev(disk)", 0) == {(): math.sqrt(500.0)}


def test_min_ignores_nan_unless_all_are_nan() -> None:
    assert vector(make_store('x{i="1"} NaN', 'x{i="2"} 3'), "min(x)", 0) == {(): 3.0}


def test_topk_keeps_whole_samples_with_their_names() -> None:
    assert vector(STORE, "topk(2, disk)", 0) == {
        lbl('disk{wh="sea", path="/d", tier="cold"}'): 70.0,
        lbl('disk{wh="lake", path="/c", tier="cold"}'): 50.0,
    }


def test_bottomk_by_group() -> None:
    assert set(vector(STORE, "bottomk by (tier) (1, disk)", 0)) == {
        lbl('disk{wh="lake", path="/a", tier="hot"}'),
        lbl('disk{wh="lake", path="/c", tier="cold"}'),
    }


def test_topk_of_less_than_one_is_empty() -> None:
    assert vector(STORE, "topk(0.5, disk)", 0) == {}


def test_quantile_interpolates_between_ranks() -> None:
    assert vector(STORE, "quantile(0.5, disk)", 0) == {(): 40.0}


def test_quantile_above_one_is_infinite() -> None:
    assert vector(STORE, "quantile(2, disk)", 0) == {(): math.inf}


def test_count_values_counts_each_value_as_a_label() -> None:
    store = make_store('x{i="1"} 1.5', 'x{i="2"} 1.5', 'x{i="3"} 2')
    assert vector(store, 'count_values("v", x)', 0) == {lbl('{v="1.5"}'): 2.0, lbl('{v="2"}'): 1.0}


def test_count_values_rejects_an_invalid_label_name() -> None:
    with pytest.raises(EvalError, match="invalid label name"):
        instant(STORE, 'count_values("1x", disk)', 0)


def test_aggregating_nothing_gives_nothing() -> None:
    assert vector(STORE, "sum(absent_metric)", 0) == {}
