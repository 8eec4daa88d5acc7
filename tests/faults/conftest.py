"""Fixtures of the fault suite (the hooks that write docs/faults.md are loaded by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.pipeline import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback that records every payload."""
    r = Receiver()
    yield r
    r.close()
