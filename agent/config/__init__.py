"""Typed configuration (schema.py) and its loader (load.py)."""

from agent.config.load import ConfigError, load_config, load_text
from agent.config.schema import Config, Duration, Secret

__all__ = ["Config", "ConfigError", "Duration", "Secret", "load_config", "load_text"]
