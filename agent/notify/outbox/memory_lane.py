"""Notifications the state disk refused, held in memory and delivered like the stored ones.

A full or read-only state disk must not hold back a page: the page may be about that very disk.
The outbox keeps here what it could not write, bounded by its capacity, and delivers it with the
same senders, backoff, dedup key and in-flight limit as a stored row. When the disk takes writes
again, each lane (receiver, integration, group) is written to the database whole, once none of
its rows is in flight, so the database again holds every undelivered notification and the last
delivered key of each group (what stops a re-send after a later crash). A crash before then loses
what only memory held; the outbox says so once.

While a lane has rows here, newer notifications of that group join it here too: a group's
notifications stay in one place, in order, and a resolve never overtakes its trigger.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Container
from dataclasses import dataclass

PENDING, DELIVERED, DEAD, SUPERSEDED = "pending", "delivered", "dead", "superseded"
RowKey = tuple[str, str, str]  # receiver, integration, dedup key
GroupLane = tuple[str, str, str]  # receiver, integration, group key
DueRow = tuple[str, str, str, str]  # receiver, integration, dedup key, group key


@dataclass(slots=True)
class MemoryRow:
    """One notification for one integration, as the outbox table would hold it."""

    lane: GroupLane
    dedup_key: str
    notification: str  # the stored (JSON) form
    created_at: float
    next_attempt_at: float
    state: str = PENDING
    attempts: int = 0
    reason: str = ""

    @property
    def key(self) -> RowKey:
        """The row's key, as in the outbox table."""
        return (self.lane[0], self.lane[1], self.dedup_key)

    def due(self, now: float) -> bool:
        """Whether the row waits for an attempt that is due at `now`."""
        return self.state == PENDING and self.next_attempt_at <= now


class MemoryLane:
    """The outbox rows that exist only in memory, in enqueue order."""

    def __init__(self, capacity: int) -> None:
        """An empty lane holding at most `capacity` rows."""
        self.capacity = capacity
        self._rows: dict[RowKey, MemoryRow] = {}
        self._lanes: Counter[GroupLane] = Counter()  # rows held per lane, so has_lane is cheap

    def __len__(self) -> int:
        """How many rows are held."""
        return len(self._rows)

    def get(self, key: RowKey) -> MemoryRow | None:
        """The row of `key`, if held here."""
        return self._rows.get(key)

    def has_lane(self, lane: GroupLane) -> bool:
        """Whether any row of the group lane is held here."""
        return self._lanes[lane] > 0

    def latest_key(self, lane: GroupLane) -> str | None:
        """The dedup key of the group's last notification held here."""
        if not self.has_lane(lane):
            return None
        return next(row.dedup_key for row in reversed(self._rows.values()) if row.lane == lane)

    def add(self, row: MemoryRow, busy: Container[RowKey]) -> list[str]:
        """Hold a new notification: the lane's older ones are superseded (forgotten unless in flight);
        beyond capacity the oldest rows not in flight go. The receivers of pending rows dropped."""
        for old in [r for r in self._rows.values() if r.lane == row.lane]:
            if old.key in busy:
                old.state = SUPERSEDED if old.state == PENDING else old.state
            else:
                self._pop(old.key)
        self._pop(row.key)
        self._rows[row.key] = row
        self._lanes[row.lane] += 1
        return self._drop_over_capacity(busy)

    def _pop(self, key: RowKey) -> MemoryRow | None:
        row = self._rows.pop(key, None)
        if row is not None:
            self._lanes[row.lane] -= 1
            if not self._lanes[row.lane]:
                del self._lanes[row.lane]
        return row

    def _drop_over_capacity(self, busy: Container[RowKey]) -> list[str]:
        dropped: list[str] = []
        for key in [k for k in self._rows if k not in busy][: max(0, len(self._rows) - self.capacity)]:
            row = self._pop(key)
            if row is not None and row.state == PENDING:
                dropped.append(key[0])
        return dropped

    def due(self, now: float) -> list[DueRow]:
        """The rows due at `now`, in enqueue order."""
        return [(*row.key, row.lane[2]) for row in self._rows.values() if row.due(now)]

    def next_attempt_at(self, now: float) -> float | None:
        """The earliest retry after `now`, if any row waits for one."""
        later = [r.next_attempt_at for r in self._rows.values() if r.state == PENDING and r.next_attempt_at > now]
        return min(later, default=None)

    def record(self, key: RowKey, state: str, attempts: int, next_at: float, reason: str, *, any_state: bool) -> None:
        """What an attempt came to; as in the table, only a delivery overrides a supersede."""
        row = self._rows.get(key)
        if row is None or (row.state != PENDING and not any_state):
            return
        row.state, row.attempts, row.next_attempt_at, row.reason = state, attempts, next_at, reason

    def pending_by_receiver(self) -> Counter[str]:
        """Pending rows held, by receiver."""
        return Counter(row.lane[0] for row in self._rows.values() if row.state == PENDING)

    def rows(self, state: str) -> list[MemoryRow]:
        """The rows in `state`, in enqueue order."""
        return [row for row in self._rows.values() if row.state == state]

    def settled_lanes(self, busy: Container[RowKey]) -> list[list[MemoryRow]]:
        """The lanes none of whose rows is in flight, each in enqueue order: ready to be written."""
        lanes: dict[GroupLane, list[MemoryRow]] = {}
        for row in self._rows.values():
            lanes.setdefault(row.lane, []).append(row)
        return [rows for rows in lanes.values() if not any(r.key in busy for r in rows)]

    def forget(self, rows: list[MemoryRow]) -> None:
        """Rows now written to the database."""
        for row in rows:
            self._pop(row.key)
