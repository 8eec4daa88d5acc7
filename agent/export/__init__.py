"""⑤ Exposition of the store for Prometheus (/metrics) and StatsD."""

from agent.export.exposition import CONTENT_TYPE, Exposition

__all__ = ["CONTENT_TYPE", "Exposition"]
