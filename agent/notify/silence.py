"""Silences, as Alertmanager's silence/silence.go: matchers and a time window that mute alerts.

Silences live in the state database (`<state_dir>/tripwired.db`, table `notify_silences`), so
they survive restarts and a `tripwired silence add` run against the same state directory is
seen by a running daemon (SQLite's data_version tells when another connection wrote).
Silences from the config file get an id derived from their content, so loading the file again
neither duplicates them nor revives one that was expired by hand.
"""

from __future__ import annotations

import builtins
import enum
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.clock import Clock
from agent.config.alerting import SilenceConfig
from agent.model import Labels
from agent.notify.matchers import Matcher, MatcherError, Matchers, MatchType, matches_all, parse_matcher_list
from agent.statedb import open_state_db, register_schema, transaction

COMPONENT = "silences"
SCHEMA_VERSION = 1
RETENTION_SECONDS = 120 * 3600  # Alertmanager's --data.retention: expired silences stay listed this long
_CONFIG_NAMESPACE = uuid.UUID("8a0e4a52-4f0b-4c35-9a57-2f5bb0b0c6d1")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notify_silences (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts_at REAL NOT NULL,
    ends_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    comment TEXT NOT NULL,
    updated_at REAL NOT NULL,
    source TEXT NOT NULL
);
"""
_COLUMNS = "id, matchers, starts_at, ends_at, created_by, comment, updated_at"


class SilenceError(ValueError):
    """A silence that cannot be added or expired; the message says why."""


class SilenceState(enum.Enum):
    """A silence's state, as Alertmanager's API names it."""

    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Silence:
    """One silence. Times are Unix seconds; it is active from starts_at until (excluding) ends_at."""

    id: str
    matchers: Matchers
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    updated_at: float

    def state(self, now: float) -> SilenceState:
        """Pending before its start, active until its end, expired after."""
        if now < self.starts_at:
            return SilenceState.PENDING
        # Alertmanager keeps a silence active at exactly EndsAt; ending it at that instant lets
        # `expire` take effect at once even under a clock that does not move.
        return SilenceState.EXPIRED if now >= self.ends_at else SilenceState.ACTIVE

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        """Whether the silence is active at `now` and its matchers match `labels`."""
        return self.state(now) is SilenceState.ACTIVE and matches_all(self.matchers, labels)


class Silences:
    """The silences of one state directory."""

    def __init__(self, state_dir: str | Path, clock: Clock) -> None:
        """Open the silences table in the state database and load the silences."""
        self.clock = clock
        self._db = open_state_db(state_dir)
        register_schema(self._db, COMPONENT, SCHEMA_VERSION, _SCHEMA)
        self._version = -1
        self._cache: dict[str, Silence] = {}

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def add(self, matchers: Sequence[str], starts_at: float, ends_at: float, created_by: str, comment: str) -> str:
        """Create a silence and return its id; SilenceError when it is invalid or already over."""
        now = self.clock.time()
        parsed = _parse(matchers)
        _check_window(starts_at, ends_at)
        if ends_at <= now:
            raise SilenceError("end time can't be in the past")
        silence = Silence(str(uuid.uuid4()), parsed, max(starts_at, now), ends_at, created_by, comment, now)
        self._write([silence], "api")
        return silence.id

    def expire(self, silence_id: str) -> None:
        """End a silence now (a pending one never starts); SilenceError if unknown or already expired."""
        silence = self.get(silence_id)
        now = self.clock.time()
        state = silence.state(now)
        if state is SilenceState.EXPIRED:
            raise SilenceError(f"silence {silence_id} already expired")
        starts_at = now if state is SilenceState.PENDING else silence.starts_at
        with transaction(self._db):
            self._db.execute(
                "UPDATE notify_silences SET starts_at = ?, ends_at = ?, updated_at = ? WHERE id = ?",
                (starts_at, now, now, silence_id),
            )
        self._cache[silence_id] = Silence(
            silence.id, silence.matchers, starts_at, now, silence.created_by, silence.comment, now
        )

    def get(self, silence_id: str) -> Silence:
        """One silence by id; SilenceError when there is none."""
        found = self._fresh().get(silence_id)
        if found is None:
            raise SilenceError(f"silence {silence_id} not found")
        return found

    def list(self) -> list[Silence]:
        """Every silence not yet garbage-collected, pending and active first, newest first."""
        now = self.clock.time()
        rank = {SilenceState.ACTIVE: 0, SilenceState.PENDING: 1, SilenceState.EXPIRED: 2}
        return sorted(self._fresh().values(), key=lambda s: (rank[s.state(now)], -s.updated_at, s.id))

    def active(self) -> builtins.list[Silence]:
        """The silences muting now (one read for a whole flush of many alerts)."""
        now = self.clock.time()
        return [s for s in self._fresh().values() if s.state(now) is SilenceState.ACTIVE]

    def is_silenced(self, labels: Labels | Mapping[str, str]) -> bool:
        """Whether an active silence matches the label set now."""
        return bool(self.silenced_by(labels))

    def silenced_by(self, labels: Labels | Mapping[str, str]) -> builtins.list[str]:
        """Ids of the active silences that match the label set now."""
        label_map = labels if isinstance(labels, Mapping) else dict(labels)
        now = self.clock.time()
        return [s.id for s in self._fresh().values() if s.mutes(label_map, now)]

    def load_config(self, configs: Sequence[SilenceConfig]) -> None:
        """Make the config file's silences present (once each), and drop config silences no longer in it."""
        silences = [config_silence(c, self.clock.time()) for c in configs]
        keep = {s.id for s in silences}
        with transaction(self._db):
            for (silence_id,) in self._db.execute("SELECT id FROM notify_silences WHERE source = 'config'").fetchall():
                if silence_id not in keep:
                    self._db.execute("DELETE FROM notify_silences WHERE id = ?", (silence_id,))
            self._insert(silences, "config", replace=False)
        self._version = -1

    def to_json(self, silence: Silence) -> dict[str, Any]:
        """Alertmanager's API v2 shape of a silence (GettableSilence)."""
        return silence_json(silence, self.clock.time())

    def _write(self, silences: Sequence[Silence], source: str) -> None:
        with transaction(self._db):
            self._insert(silences, source, replace=True)
            self._db.execute("DELETE FROM notify_silences WHERE ends_at < ?", (self.clock.time() - RETENTION_SECONDS,))
        self._version = -1

    def _insert(self, silences: Sequence[Silence], source: str, *, replace: bool) -> None:
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        self._db.executemany(
            f"{verb} INTO notify_silences ({_COLUMNS}, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(*_to_row(s), source) for s in silences],
        )

    def _fresh(self) -> dict[str, Silence]:
        """The cached silences, re-read when this or another connection changed the table."""
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._version:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM notify_silences").fetchall()
            self._cache = {row[0]: _from_row(row) for row in rows}
            self._version = version
        return self._cache


def config_silence(config: SilenceConfig, now: float) -> Silence:
    """The silence a config entry declares, with an id that depends only on its content."""
    matchers = _parse(config.matchers)
    starts_at, ends_at = parse_rfc3339(config.starts_at), parse_rfc3339(config.ends_at)
    _check_window(starts_at, ends_at)
    content = json.dumps([[str(m) for m in matchers], starts_at, ends_at, config.created_by, config.comment])
    silence_id = str(uuid.uuid5(_CONFIG_NAMESPACE, content))
    return Silence(silence_id, matchers, starts_at, ends_at, config.created_by, config.comment, now)


def check_silence_config(config: SilenceConfig) -> list[str]:
    """The problems of one config silence, as messages (empty when it is usable)."""
    try:
        config_silence(config, 0.0)
    except (SilenceError, MatcherError) as exc:
        return [str(exc)]
    return []


def silence_json(silence: Silence, now: float) -> dict[str, Any]:
    """Alertmanager's API v2 silence: id, matchers, startsAt, endsAt, updatedAt, createdBy, comment, status."""
    return {
        "id": silence.id,
        "matchers": [_matcher_json(m) for m in silence.matchers],
        "startsAt": format_rfc3339(silence.starts_at),
        "endsAt": format_rfc3339(silence.ends_at),
        "updatedAt": format_rfc3339(silence.updated_at),
        "createdBy": silence.created_by,
        "comment": silence.comment,
        "status": {"state": silence.state(now).value},
    }


def matchers_from_json(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """Matcher strings from API v2 JSON (`{name, value, isRegex, isEqual}`); SilenceError if malformed."""
    out = []
    for item in items:
        name, value = item.get("name"), item.get("value")
        if not isinstance(name, str) or not isinstance(value, str):
            raise SilenceError(f"matcher needs a string name and value: {dict(item)!r}")
        is_regex, is_equal = bool(item.get("isRegex", False)), bool(item.get("isEqual", True))
        op = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}[(is_regex, is_equal)]
        out.append(str(Matcher(name, MatchType(op), value)))
    return out


def parse_rfc3339(text: str) -> float:
    """Unix seconds of an RFC 3339 time (`2026-11-24T08:00:00Z`); SilenceError without a zone."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise SilenceError(f"invalid time {text!r} (use RFC 3339, e.g. 2026-11-24T08:00:00Z)") from None
    if parsed.tzinfo is None:
        raise SilenceError(f"time {text!r} has no time zone (add Z or an offset such as +01:00)")
    return parsed.timestamp()


def format_rfc3339(unix_seconds: float) -> str:
    """UTC with milliseconds, as Alertmanager's API prints times."""
    text = datetime.fromtimestamp(unix_seconds, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _parse(matchers: Sequence[str]) -> Matchers:
    parsed = parse_matcher_list(matchers)
    if not parsed:
        raise SilenceError("at least one matcher required")
    if all(m.matches("") for m in parsed):
        raise SilenceError("at least one matcher must not match the empty string")
    return parsed


def _check_window(starts_at: float, ends_at: float) -> None:
    if ends_at < starts_at:
        raise SilenceError("end time must not be before start time")


def _matcher_json(matcher: Matcher) -> dict[str, Any]:
    return {
        "name": matcher.name,
        "value": matcher.value,
        "isRegex": matcher.type in (MatchType.REGEX, MatchType.NOT_REGEX),
        "isEqual": matcher.type in (MatchType.EQUAL, MatchType.REGEX),
    }


def _to_row(silence: Silence) -> tuple[object, ...]:
    matchers = json.dumps([[m.name, m.type.value, m.value] for m in silence.matchers])
    return (
        silence.id,
        matchers,
        silence.starts_at,
        silence.ends_at,
        silence.created_by,
        silence.comment,
        silence.updated_at,
    )


def _from_row(row: Sequence[Any]) -> Silence:
    silence_id, matchers, starts_at, ends_at, created_by, comment, updated_at = row
    parsed = tuple(Matcher(name, MatchType(op), value) for name, op, value in json.loads(matchers))
    return Silence(silence_id, parsed, float(starts_at), float(ends_at), created_by, comment, float(updated_at))
