"""Persistence of active alerts in the SQLite state database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent.model import AlertState
from agent.ruler.alerting import ActiveAlert
from agent.ruler.state import AlertStateStore, persisted_shape
from agent.statedb import StateError

LABELS = (("alertname", "Down"), ("instance", "a"))
FIRING = ActiveAlert(
    LABELS,
    (("summary", "down"),),
    AlertState.FIRING,
    3.5,
    1_000,
    fired_at_ms=61_000,
    keep_firing_since_ms=90_000,
    last_sent_at_ms=120_000,
    valid_until_ms=360_000,
)
RESOLVED = ActiveAlert(
    (("alertname", "Down"), ("instance", "b")),
    (),
    AlertState.INACTIVE,
    0.0,
    1_000,
    fired_at_ms=1_000,
    resolved_at_ms=5_000,
    last_sent_at_ms=5_000,
)


def test_saved_alerts_load_back_unchanged_after_reopening(tmp_path: Path) -> None:
    store = AlertStateStore(tmp_path)
    store.save([(("r.yaml;g", "Down"), {FIRING.labels: FIRING, RESOLVED.labels: RESOLVED})])
    store.close()
    reopened = AlertStateStore(tmp_path)
    assert {("r.yaml;g", "Down"): {FIRING.labels: FIRING, RESOLVED.labels: RESOLVED}} == reopened.load()


def test_saving_a_rule_replaces_its_previous_alerts(tmp_path: Path) -> None:
    store = AlertStateStore(tmp_path)
    store.save([(("r.yaml;g", "Down"), {FIRING.labels: FIRING})])
    store.save([(("r.yaml;g", "Down"), {RESOLVED.labels: RESOLVED})])
    assert {("r.yaml;g", "Down"): {RESOLVED.labels: RESOLVED}} == store.load()


def test_retain_forgets_rules_that_are_gone(tmp_path: Path) -> None:
    store = AlertStateStore(tmp_path)
    store.save([(("r.yaml;g", "Down"), {FIRING.labels: FIRING}), (("r.yaml;h", "Up"), {FIRING.labels: FIRING})])
    store.retain([("r.yaml;h", "Up")])
    assert [("r.yaml;h", "Up")] == list(store.load())


def test_database_is_in_wal_mode(tmp_path: Path) -> None:
    AlertStateStore(tmp_path).close()
    with sqlite3.connect(tmp_path / "tripwired.db") as db:
        assert "wal" == db.execute("PRAGMA journal_mode").fetchone()[0]


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    AlertStateStore(tmp_path).close()
    with sqlite3.connect(tmp_path / "tripwired.db") as db:
        db.execute("UPDATE schema_version SET version = 99 WHERE component = 'ruler'")
    with pytest.raises(StateError):
        AlertStateStore(tmp_path)


def test_persisted_shape_ignores_value_changes() -> None:
    from dataclasses import replace

    assert persisted_shape({LABELS: FIRING}) == persisted_shape({LABELS: replace(FIRING, value=99.0)})
