"""② Bounded series on per-source timelines, staleness, selection by name; the storage roles; the WAL (wal/)."""

from agent.store.roles import Appender, Queryable, SeriesView, Storage, WriteResult
from agent.store.series import LOOKBACK_MS, STALE_NAN, Series, is_stale
from agent.store.store import Journal, Store, Watcher

__all__ = [
    "LOOKBACK_MS",
    "STALE_NAN",
    "Appender",
    "Journal",
    "Queryable",
    "Series",
    "SeriesView",
    "Storage",
    "Store",
    "Watcher",
    "WriteResult",
    "is_stale",
]
