"""⑤ Exposition of the store for Prometheus (/metrics) and StatsD."""

from agent.export.exposition import CONTENT_TYPE, Exposition
from agent.export.watched import WatchedStore

__all__ = ["CONTENT_TYPE", "Exposition", "WatchedStore"]
