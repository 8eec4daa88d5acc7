"""The store's write-ahead log: records, segments, the writer thread, checkpoints and replay.

Laid out as Prometheus' tsdb/wlog and tsdb/record are: records.py (what is logged and how it
is encoded), segments.py (files, header, checksummed frames), writer.py (the thread that
writes), log.py (the loop's side: journal, sync, checkpoints), replay.py (reading it back).
"""

from agent.store.wal.log import Wal
from agent.store.wal.replay import ReplayStats
from agent.store.wal.segments import FORMAT_VERSION, FormatVersionError
from agent.store.wal.writer import Flush, WalStats

__all__ = ["FORMAT_VERSION", "Flush", "FormatVersionError", "ReplayStats", "Wal", "WalStats"]
