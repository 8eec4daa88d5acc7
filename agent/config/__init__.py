"""Typed configuration (schema.py) and its loader (load.py).

The loader (and with it the YAML and PromQL parsers) is imported on first use, not with the
schema: the Kafka collector's child process unpickles its config's classes and loads no file.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from agent.config.schema import Config, Duration, Secret

if TYPE_CHECKING:
    from agent.config.load import ConfigError, load_config, load_text

__all__ = ["Config", "ConfigError", "Duration", "Secret", "load_config", "load_text"]
_FROM_LOADER = frozenset(("ConfigError", "load_config", "load_text"))


def __getattr__(name: str) -> Any:
    if name in _FROM_LOADER:
        return getattr(importlib.import_module("agent.config.load"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
