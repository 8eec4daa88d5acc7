"""② Bounded per-series ring buffers, staleness, selection by name."""

from agent.store.series import LOOKBACK_MS, STALE_NAN, Series, Store, WriteResult, is_stale

__all__ = ["LOOKBACK_MS", "STALE_NAN", "Series", "Store", "WriteResult", "is_stale"]
