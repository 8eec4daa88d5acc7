"""The notification log: Alertmanager's needsUpdate decision, and persistence."""

from __future__ import annotations

from pathlib import Path

from agent.clock import FakeClock
from agent.notify.nflog import LogEntry, NotifyLog, needs_update

REPEAT = 4 * 3600.0
NOW = 10_000.0


def entry(firing: set[str], resolved: set[str] | None = None, sent_at: float = NOW - 60) -> LogEntry:
    return LogEntry(frozenset(firing), frozenset(resolved or set()), sent_at)


def test_first_notification_needs_a_firing_alert() -> None:
    assert (True, False) == (
        needs_update(None, {"a"}, set(), REPEAT, NOW),
        needs_update(None, set(), {"a"}, REPEAT, NOW),
    )


def test_new_firing_alert_is_an_update() -> None:
    assert needs_update(entry({"a"}), {"a", "b"}, set(), REPEAT, NOW)


def test_newly_resolved_alert_is_an_update() -> None:
    assert needs_update(entry({"a", "b"}), {"a"}, {"b"}, REPEAT, NOW)


def test_all_resolved_is_an_update_once() -> None:
    assert (True, False) == (
        needs_update(entry({"a"}), set(), {"a"}, REPEAT, NOW),
        needs_update(entry(set(), {"a"}), set(), {"a"}, REPEAT, NOW),
    )


def test_unchanged_group_waits_for_the_repeat_interval() -> None:
    assert (False, True) == (
        needs_update(entry({"a"}), {"a"}, set(), REPEAT, NOW),
        needs_update(entry({"a"}, sent_at=NOW - REPEAT - 1), {"a"}, set(), REPEAT, NOW),
    )


def test_fewer_firing_alerts_without_new_resolved_ones_is_not_an_update() -> None:
    assert not needs_update(entry({"a", "b"}), {"a"}, set(), REPEAT, NOW)


def test_entries_survive_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    first = NotifyLog(tmp_path, clock)
    first.log("team", "{}:{}", {"a"}, {"b"})
    first.close()
    assert LogEntry(frozenset({"a"}), frozenset({"b"}), clock.time()) == NotifyLog(tmp_path, clock).get("team", "{}:{}")


def test_entries_expire_after_the_retention(tmp_path: Path) -> None:
    clock = FakeClock()
    log = NotifyLog(tmp_path, clock)
    log.log("team", "{}:{}", {"a"}, set())
    clock.advance(121 * 3600)
    assert log.get("team", "{}:{}") is None
