"""Where a remote_write queue is in the write-ahead log, kept on disk as Prometheus' WAL watcher keeps its.

A position is a segment number and the byte offset just past the last record whose samples the
receiver acknowledged. It is written to a temporary file, fsynced and renamed over the old one
(then the directory is fsynced), so a crash leaves the old position or the new one, never half.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """A place in the log: segment number, byte offset in it."""

    segment: int
    offset: int


class PositionFile:
    """The position of one queue, in `<state_dir>/remote_write/<queue>.json`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Position | None:
        """The saved position; None when there is none (a new queue) or it cannot be read (logged)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return Position(int(data["segment"]), int(data["offset"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("remote_write_position_unreadable", file=str(self.path), error=str(exc))
            return None

    def save(self, position: Position) -> bool:
        """Write `position` atomically and durably; False (logged) when the disk refuses."""
        tmp = self.path.with_suffix(".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as out:
                json.dump({"segment": position.segment, "offset": position.offset}, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
        except OSError as exc:
            log.warning("remote_write_position_not_saved", file=str(self.path), error=exc.strerror or str(exc))
            with contextlib.suppress(OSError):
                tmp.unlink()
            return False
        return True


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
