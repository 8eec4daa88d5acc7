"""Work done in steps: a generator that yields between steps and returns its result.

Large writes and renderings (100,000 series) are written this way so that the event loop can
serve a scrape between two steps; a caller that needs the result at once runs them through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import TypeVar

T = TypeVar("T")
Steps = Generator[None, None, T]


def run_through(steps: Steps[T]) -> T:
    """Run every step now and return the result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: T = done.value
            return result


async def run_between_tasks(steps: Steps[T]) -> T:
    """Run the steps, letting the event loop run its other tasks between two of them."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: T = done.value
            return result
        await asyncio.sleep(0)
