"""The units of Prometheus 3's newer functions (the rules themselves are tested in tests/web/test_explain.py)."""

from __future__ import annotations

import promql_parser
import pytest

from agent.promql.units import Unit, unit_of


@pytest.mark.parametrize(
    ("expr", "unit"),
    [
        ("first_over_time(disk_free_bytes[5m])", Unit.BYTES),
        ("info(disk_free_bytes)", Unit.BYTES),
        ("ts_of_max_over_time(disk_free_bytes[1h])", Unit.TIMESTAMP),
        ("time() - ts_of_last_over_time(up[1h])", Unit.SECONDS),
        ("integral(disk_free_bytes[5m])", Unit.NONE),
        ("sin(angle)", Unit.NONE),
    ],
)
def test_units_of_prometheus_3_functions(expr: str, unit: Unit) -> None:
    assert unit_of(promql_parser.parse(expr)) is unit
