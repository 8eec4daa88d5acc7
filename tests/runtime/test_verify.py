"""The verdicts of `tripwired verify` as pure functions: conditions, a measurement's phase, a check's phase."""

from __future__ import annotations

import math

import pytest

from agent.config.load import ConfigError, load_text
from agent.config.verify import ChecksFile, CheckSpec, parse_condition, parse_query
from agent.runtime.verify import Measurement, Phase, assess, baseline_expr, judge


def spec(**fields: object) -> CheckSpec:
    text = "checks:\n  - name: kpi\n    query: kpi\n" + "".join(f"    {k}: {v}\n" for k, v in fields.items())
    return load_text(ChecksFile, text).checks[0]


def measurements(*phases: Phase) -> list[Measurement]:
    return [Measurement(phase, float(i)) for i, phase in enumerate(phases)]


@pytest.mark.parametrize(
    ("condition", "result", "baseline", "holds"),
    [
        ("result <= baseline * 1.10", 1.1, 1.0, True),
        ("result <= baseline * 1.10", 1.11, 1.0, False),
        ("result >= 0.95 and not result > 1", 0.97, None, True),
        ("0 < result < 10 or result == -1", -1.0, None, True),
        ("result - baseline <= 5", 7.0, 1.0, False),
        ("result / baseline < 2", 1.0, 0.0, False),  # 1/0 is +Inf, as in PromQL
    ],
)
def test_a_condition_holds_as_its_arithmetic_says(
    condition: str, result: float, baseline: float | None, holds: bool
) -> None:
    assert holds == parse_condition(condition).holds(result, baseline)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("result <= baselin", "unknown name 'baselin'"),
        ("__import__('os')", "Call is not allowed"),
        ("result >= 'x'", "'x' is not a number"),
        ("result >=", "invalid condition"),
        ("result[0] >= 1", "Subscript is not allowed"),
    ],
)
def test_a_condition_that_is_not_arithmetic_over_result_and_baseline_is_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_condition(text)


def test_a_query_that_does_not_parse_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid PromQL"):
        parse_query("sum(")


def test_only_a_success_condition_fails_when_it_does_not_hold() -> None:
    check = spec(success_condition="result < 1")

    assert (Phase.SUCCESSFUL, Phase.FAILED) == (judge(check, 0.5, None)[0], judge(check, 2, None)[0])


def test_only_a_failure_condition_passes_when_it_does_not_hold() -> None:
    check = spec(failure_condition="result >= 10")

    assert (Phase.SUCCESSFUL, Phase.FAILED) == (judge(check, 9, None)[0], judge(check, 10, None)[0])


def test_no_data_nan_a_missing_baseline_and_neither_condition_are_inconclusive() -> None:
    check = spec(success_condition="result <= baseline * 1.1", failure_condition="result > baseline * 2")

    verdicts = [judge(check, None, 1), judge(check, math.nan, 1), judge(check, 1, None, "marker x not found")]
    verdicts += [judge(check, 1, math.nan), judge(check, 1.5, 1)]

    assert [Phase.INCONCLUSIVE] * 5 == [phase for phase, _ in verdicts]
    assert "no baseline: marker x not found" == verdicts[2][1]
    assert "neither success_condition nor failure_condition holds" == verdicts[4][1]


def test_a_check_fails_once_its_failures_exceed_the_failure_limit() -> None:
    check = spec(success_condition="result < 1", interval="1s", count=5, failure_limit=1)

    assert None is assess(check, measurements(Phase.FAILED, Phase.SUCCESSFUL))
    assert Phase.FAILED == assess(check, measurements(Phase.FAILED, Phase.SUCCESSFUL, Phase.FAILED))


def test_a_check_is_inconclusive_once_inconclusive_measurements_exceed_their_limit() -> None:
    check = spec(success_condition="result < 1", interval="1s", count=3, inconclusive_limit=1)

    assert None is assess(check, measurements(Phase.INCONCLUSIVE))
    assert Phase.SUCCESSFUL == assess(check, measurements(Phase.INCONCLUSIVE, Phase.SUCCESSFUL, Phase.SUCCESSFUL))
    assert Phase.INCONCLUSIVE == assess(check, measurements(Phase.INCONCLUSIVE, Phase.SUCCESSFUL, Phase.INCONCLUSIVE))


def test_query_errors_are_retried_until_too_many_come_in_a_row() -> None:
    check = spec(success_condition="result < 1", interval="1s", count=2, consecutive_error_limit=2)

    assert None is assess(check, measurements(Phase.ERROR, Phase.SUCCESSFUL, Phase.ERROR, Phase.ERROR))
    assert Phase.SUCCESSFUL == assess(check, measurements(Phase.ERROR, Phase.SUCCESSFUL, Phase.ERROR, Phase.SUCCESSFUL))
    assert Phase.ERROR == assess(check, measurements(Phase.SUCCESSFUL, *[Phase.ERROR] * 3))


def test_a_check_never_passes_without_a_successful_measurement() -> None:
    check = spec(success_condition="result < 1", failure_limit=1)

    assert Phase.FAILED == assess(check, measurements(Phase.FAILED))


def test_the_baseline_is_the_query_averaged_over_the_window_before_the_release() -> None:
    check = spec(success_condition="result <= baseline", baseline_window="30m")

    assert "avg_over_time((\nkpi\n)[1800000ms:60000ms])" == baseline_expr(check)


def test_a_check_file_error_names_the_line_and_field() -> None:
    text = "checks:\n  - name: a\n    query: up\n    success_condition: result > 0\n    count: 3\n"

    with pytest.raises(ConfigError) as caught:
        load_text(ChecksFile, text, "checks.yaml")

    assert ["checks.yaml:2: checks[0]: check 'a': interval is needed to take 3 measurements"] == caught.value.errors


def test_check_names_must_be_unique() -> None:
    check = "  - {name: a, query: up, success_condition: result > 0}\n"

    with pytest.raises(ConfigError, match="names must be unique, repeated: a"):
        load_text(ChecksFile, "checks:\n" + check + check, "checks.yaml")
