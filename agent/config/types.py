"""Value types of the configuration, shared by every config module."""

from __future__ import annotations

from dataclasses import field
from typing import Any


class Duration(float):
    """Seconds, written in YAML as a Prometheus duration (`10s`, `1m30s`, `5m`, `1h`)."""


class Secret(str):
    """A string that never shows itself in logs, reprs or API responses."""

    def __repr__(self) -> str:
        return "Secret('<redacted>')"


def secret_field(default: str | None = None) -> Any:
    """A config field holding a secret, which YAML may also give as `<key>_file` (a file to read), not both."""
    return field(default=default, metadata={"secret": True})
