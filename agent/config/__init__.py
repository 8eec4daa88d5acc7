"""Typed configuration (schema.py) and its loader (load.py).

Names are imported on first use, not with the package: the Kafka collector's child process
unpickles its config's classes (agent/config/kafka.py) and needs neither the rest of the schema nor
the loader (and with it the YAML and PromQL parsers).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.config.load import ConfigError, load_config, load_text
    from agent.config.schema import Config
    from agent.config.types import Duration, Secret

__all__ = ["Config", "ConfigError", "Duration", "Secret", "load_config", "load_text"]
_HOMES = {
    "Config": "agent.config.schema",
    "ConfigError": "agent.config.load",
    "Duration": "agent.config.types",
    "Secret": "agent.config.types",
    "load_config": "agent.config.load",
    "load_text": "agent.config.load",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
