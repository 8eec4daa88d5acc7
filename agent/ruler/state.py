"""Active alerts kept in SQLite, so a restart continues `for` timers and keeps firing alerts firing.

One row per alert instance, keyed by group (`file;group`), rule (`name`, or `name#n` for the
n-th rule of that name in the group) and labels. The database is `<state_dir>/tripwired.db`,
shared with the notifier's outbox; WAL mode lets readers and the one writer coexist, and the
`schema_version` table records the layout of each component's tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agent.model import AlertState, Labels
from agent.ruler.alerting import ActiveAlert
from agent.statedb import DB_NAME, open_state_db, register_schema, transaction

COMPONENT = "ruler"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ruler_alerts (
    group_key TEXT NOT NULL,
    rule TEXT NOT NULL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    state TEXT NOT NULL,
    value REAL NOT NULL,
    active_at INTEGER NOT NULL,
    fired_at INTEGER,
    resolved_at INTEGER,
    keep_firing_since INTEGER,
    last_sent_at INTEGER,
    valid_until INTEGER,
    PRIMARY KEY (group_key, rule, labels)
);
"""

_COLUMNS = (
    "labels, annotations, state, value, active_at, fired_at, resolved_at, keep_firing_since, last_sent_at, valid_until"
)

RuleKey = tuple[str, str]  # (group key, rule key)


class AlertStateStore:
    """Reads and writes the active alerts of every alerting rule."""

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / DB_NAME
        self._db = open_state_db(state_dir)
        register_schema(self._db, COMPONENT, SCHEMA_VERSION, _SCHEMA)

    def close(self) -> None:
        """Close the state database."""
        self._db.close()

    def load(self) -> dict[RuleKey, dict[Labels, ActiveAlert]]:
        """Every persisted alert, by (group key, rule key)."""
        out: dict[RuleKey, dict[Labels, ActiveAlert]] = {}
        for row in self._db.execute(f"SELECT group_key, rule, {_COLUMNS} FROM ruler_alerts"):
            alert = _from_row(row[2:])
            out.setdefault((row[0], row[1]), {})[alert.labels] = alert
        return out

    def save(self, changes: Iterable[tuple[RuleKey, Mapping[Labels, ActiveAlert]]]) -> None:
        """Replace the alerts of each given rule, all in one transaction."""
        with transaction(self._db):
            for (group_key, rule), alerts in changes:
                self._db.execute("DELETE FROM ruler_alerts WHERE group_key = ? AND rule = ?", (group_key, rule))
                self._db.executemany(
                    f"INSERT INTO ruler_alerts (group_key, rule, {_COLUMNS}) VALUES ({', '.join('?' * 12)})",
                    [(group_key, rule, *_to_row(a)) for a in alerts.values()],
                )

    def retain(self, keys: Iterable[RuleKey]) -> None:
        """Forget the alerts of every rule not in `keys` (rules removed by a reload)."""
        keep = set(keys)
        stored = {(g, r) for g, r in self._db.execute("SELECT DISTINCT group_key, rule FROM ruler_alerts")}
        with transaction(self._db):
            for group_key, rule in stored - keep:
                self._db.execute("DELETE FROM ruler_alerts WHERE group_key = ? AND rule = ?", (group_key, rule))


def _to_row(alert: ActiveAlert) -> tuple[object, ...]:
    return (
        json.dumps(alert.labels),
        json.dumps(alert.annotations),
        alert.state.value,
        alert.value,
        alert.active_at_ms,
        alert.fired_at_ms,
        alert.resolved_at_ms,
        alert.keep_firing_since_ms,
        alert.last_sent_at_ms,
        alert.valid_until_ms,
    )


def _from_row(row: Sequence[Any]) -> ActiveAlert:
    labels, annotations, state, value, active_at, fired_at, resolved_at, keep_since, last_sent, valid_until = row
    return ActiveAlert(
        labels=_pairs(labels),
        annotations=_pairs(annotations),
        state=AlertState(state),
        value=float(value),
        active_at_ms=int(active_at),
        fired_at_ms=fired_at,
        resolved_at_ms=resolved_at,
        keep_firing_since_ms=keep_since,
        last_sent_at_ms=last_sent,
        valid_until_ms=valid_until,
    )


def _pairs(text: str) -> Labels:
    return tuple((str(k), str(v)) for k, v in json.loads(text))


def persisted_shape(alerts: Mapping[Labels, ActiveAlert]) -> dict[Labels, tuple[object, ...]]:
    """What must survive a restart, leaving out value and annotations that change every evaluation."""
    return {
        labels: (a.state, a.active_at_ms, a.fired_at_ms, a.resolved_at_ms, a.keep_firing_since_ms, a.last_sent_at_ms)
        for labels, a in alerts.items()
    }
