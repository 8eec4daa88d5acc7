"""Fixtures of the fault suite, and the hooks that write docs/faults.md (tests/faults/faults_table.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.faults_table import (  # noqa: F401  (pytest finds hooks by name in a conftest)
    pytest_collection_modifyitems,
    pytest_runtest_logreport,
    pytest_sessionfinish,
)
from tests.faults.pipeline import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback that records every payload."""
    r = Receiver()
    yield r
    r.close()
