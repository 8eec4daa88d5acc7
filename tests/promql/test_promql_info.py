"""info(): data labels of info series joined by instance and job (promtool 3: corpus3/experimental_info.yaml)."""

from __future__ import annotations

import pytest
from promql_fixtures import MINUTE, V2, V3, lbl, make_store, vector

from agent.promql import PromQLCompat, PromQLError, Semantics, parse_expr
from agent.promql.errors import EvalError

STORE = make_store(
    'metric{instance="a", job="1", label="value"} 0 1 2',
    'metric{instance="b", job="1"} 5 5 5',
    'target_info{instance="a", job="1", data="info", label="other"} 1 1 1',
    'build_info{instance="a", job="1", version="2.0"} 1 1 1',
)


def test_info_adds_target_infos_data_labels_but_not_those_the_series_has() -> None:
    assert vector(STORE, 'info(metric{instance="a"})', MINUTE, V3) == {
        lbl('metric{instance="a", job="1", label="value", data="info"}'): 1.0
    }


def test_a_series_without_an_info_series_is_kept_as_it_is() -> None:
    assert vector(STORE, 'info(metric{instance="b"})', MINUTE, V3) == {lbl('metric{instance="b", job="1"}'): 5.0}


def test_data_label_matchers_choose_the_labels_and_drop_unmatched_series() -> None:
    assert vector(STORE, 'info(metric, {__name__=~".+_info", version=~".+"})', MINUTE, V3) == {
        lbl('metric{instance="a", job="1", label="value", version="2.0"}'): 1.0
    }


def test_info_series_themselves_pass_through() -> None:
    assert vector(STORE, "info(target_info)", MINUTE, V3) == {
        lbl('target_info{instance="a", job="1", data="info", label="other"}'): 1.0
    }


def test_a_dropped_metric_name_stays_dropped() -> None:
    assert vector(STORE, 'info(floor(metric{instance="a"}))', MINUTE, V3) == {
        lbl('{instance="a", job="1", label="value", data="info"}'): 1.0
    }


def test_info_of_nothing_is_nothing() -> None:
    assert vector(STORE, "info(no_such_metric)", MINUTE, V3) == {}


def test_two_info_series_with_one_identity_at_one_time_are_an_error() -> None:
    store = make_store(
        'm{instance="a", job="1"} 1',
        'target_info{instance="a", job="1", v="x"} 1',
        'target_info{instance="a", job="1", v="y"} 1',
    )
    with pytest.raises(EvalError, match="found duplicate series for info metric"):
        vector(store, "info(m)", 0, V3)


def test_the_newer_of_two_info_series_wins() -> None:
    store = make_store(
        'm{instance="a", job="1"} 1 1',
        'target_info{instance="a", job="1", v="x"} 1 _',
        'target_info{instance="a", job="1", v="y"} _ 1',
    )
    assert vector(store, "info(m)", MINUTE, V3) == {lbl('m{instance="a", job="1", v="y"}'): 1.0}


def test_two_info_metrics_disagreeing_on_a_label_are_an_error() -> None:
    store = make_store(
        'm{instance="a", job="1"} 1',
        'target_info{instance="a", job="1", v="x"} 1',
        'build_info{instance="a", job="1", v="y"} 1',
    )
    with pytest.raises(EvalError, match="conflicting label: v"):
        vector(store, 'info(m, {__name__=~".+_info"})', 0, V3)


def test_info_reads_the_info_series_at_the_arguments_at_time() -> None:
    store = make_store(
        'm{instance="a", job="1"} 1 1 1',
        'target_info{instance="a", job="1", v="old"} 1 _ _',
        'target_info{instance="a", job="1", v="new"} _ _ 1',
    )
    assert (vector(store, "info(m @ 0)", 2 * MINUTE, V3), vector(store, "info(m)", 2 * MINUTE, V3)) == (
        {lbl('m{instance="a", job="1", v="old"}'): 1.0},
        {lbl('m{instance="a", job="1", v="new"}'): 1.0},
    )


def test_info_is_experimental_and_prometheus_3s() -> None:
    with pytest.raises(PromQLError, match="promql-experimental-functions"):
        parse_expr("info(metric)", Semantics(PromQLCompat.V3))
    with pytest.raises(PromQLError, match="not supported"):
        parse_expr("info(metric)", V2)
