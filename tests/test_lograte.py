"""A failure that repeats is logged loud once, then quietly, with a summary every 5 minutes and a recovery line."""

from __future__ import annotations

from structlog.testing import capture_logs

from agent.clock import FakeClock
from agent.lograte import RepeatedFailure


def levels_and_events(logs: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(entry["log_level"], entry["event"]) for entry in logs]


def test_a_receiver_retrying_for_ten_minutes_logs_once_two_summaries_and_its_recovery() -> None:
    clock = FakeClock()
    retries = RepeatedFailure(
        "notify_retrying", clock.monotonic, first_level="warning", recovered_event="notify_recovered"
    )
    with capture_logs() as logs:
        for _ in range(600):  # a retry a second for ten minutes
            retries.failed(receiver="pager")
            clock.advance(1.0)
        retries.succeeded(receiver="pager")
    loud = [e for e in levels_and_events(logs) if e[0] != "debug"]
    assert [
        ("warning", "notify_retrying"),
        ("warning", "notify_retrying"),
        ("info", "notify_recovered"),
    ] == loud
    summary = next(e for e in logs if e["log_level"] == "warning" and "failures" in e)
    assert (300, "pager") == (summary["failures"], summary["receiver"])
    assert 600 == logs[-1]["failures"]


def test_the_default_first_level_is_error_and_the_recovery_is_named_after_the_event() -> None:
    clock = FakeClock()
    writes = RepeatedFailure("outbox_write_failed", clock.monotonic)
    with capture_logs() as logs:
        writes.failed()
        writes.succeeded()
    assert [("error", "outbox_write_failed"), ("info", "outbox_write_recovered")] == levels_and_events(logs)
