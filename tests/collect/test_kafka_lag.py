"""Consumer lag in seconds, interpolated from the history of a partition's end offset."""

from __future__ import annotations

import pytest

from agent.collect.kafka_lag import OffsetHistory, is_lower_bound, lag_seconds


def test_no_lag_is_zero_seconds() -> None:
    assert 0.0 == lag_seconds([(100.0, 10), (110.0, 20)], committed=20, now=200.0)


def test_committed_past_the_end_is_zero_seconds() -> None:
    assert 0.0 == lag_seconds([(100.0, 10)], committed=15, now=200.0)


def test_empty_history_is_zero_seconds() -> None:
    assert 0.0 == lag_seconds([], committed=5, now=200.0)


def test_first_unread_record_time_is_interpolated_between_observations() -> None:
    # The end offset went 10 -> 20 between t=100 and t=110: offset 15 (the first record after
    # committed 14) arrived at t=105 at a steady rate, so at t=130 it is 25 s old.
    assert 25.0 == lag_seconds([(100.0, 10), (110.0, 20), (120.0, 30)], committed=14, now=130.0)


def test_record_right_after_an_observation_counts_from_that_observation() -> None:
    # Committed 10 means offset 10 is unread; the end reached 11 just after t=100.
    assert pytest.approx(29.0) == lag_seconds([(100.0, 10), (110.0, 20)], committed=10, now=130.0)


def test_unread_record_older_than_the_history_is_a_lower_bound() -> None:
    assert 60.0 == lag_seconds([(100.0, 50), (110.0, 60)], committed=20, now=160.0)


def test_lag_older_than_the_history_is_flagged_as_a_lower_bound() -> None:
    assert is_lower_bound([(100.0, 50), (110.0, 60)], committed=20)


def test_lag_bracketed_by_the_history_is_not_a_lower_bound() -> None:
    assert not is_lower_bound([(100.0, 10), (110.0, 20)], committed=14)


def test_idle_stretch_brackets_the_jump_at_its_last_point() -> None:
    # Idle at 10 from t=100 to t=190, then 20 at t=200: the new records came in the last 10 s.
    history = [(100.0, 10), (190.0, 10), (200.0, 20)]
    assert 15.0 == lag_seconds(history, committed=14, now=210.0)


def test_history_keeps_only_the_ends_of_a_run_of_equal_offsets() -> None:
    history = OffsetHistory()
    for when, offset in [(1.0, 5), (2.0, 5), (3.0, 5), (4.0, 5), (5.0, 7)]:
        history.record("p", when, offset)

    assert [(1.0, 5), (4.0, 5), (5.0, 7)] == history.points("p")


def test_history_is_bounded() -> None:
    history = OffsetHistory(max_points=3)
    for i in range(10):
        history.record("p", float(i), i)

    assert [(7.0, 7), (8.0, 8), (9.0, 9)] == history.points("p")


def test_history_restarts_when_the_end_offset_goes_back() -> None:
    history = OffsetHistory()
    history.record("p", 1.0, 100)
    history.record("p", 2.0, 3)  # topic deleted and re-created under the same name

    assert [(2.0, 3)] == history.points("p")


def test_retain_forgets_partitions_that_are_gone() -> None:
    history = OffsetHistory()
    history.record(("a", 0), 1.0, 1)
    history.record(("b", 0), 1.0, 1)

    history.retain([("a", 0)])

    assert (1, []) == (len(history), history.points(("b", 0)))


def test_partitions_have_separate_histories() -> None:
    history = OffsetHistory()
    history.record(("a", 0), 100.0, 0)
    history.record(("a", 0), 110.0, 10)
    history.record(("a", 1), 100.0, 0)

    assert (5.0, 0.0) == (history.lag_seconds(("a", 0), 4, now=110.0), history.lag_seconds(("a", 1), 0, now=110.0))


def test_a_history_needs_two_points_to_bracket_anything() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        OffsetHistory(max_points=1)
