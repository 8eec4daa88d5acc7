"""The stored history a collector is seeded from (Kafka's end offsets, for lag in seconds).

The event loop is the store's only writer, while an isolated collector asks for its history from
its own thread when it starts a child: the read is then run on the loop and waited for.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Sequence

from agent.collect.base import SeriesHistory
from agent.model import Labels
from agent.store import Store

HISTORY_READ_TIMEOUT = 10.0


def seeding_history(store: Store) -> SeriesHistory:
    """Every stored series of a name (labels and copies of its points), safe to call from any thread."""

    def read(name: str) -> list[tuple[Labels, Sequence[int], Sequence[float]]]:
        return [(series.labels, *series.points()) for series in store.family(name)]

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # a daemon built outside a loop (tests): there is one thread
        return read
    return on_loop(loop, read, HISTORY_READ_TIMEOUT)


def on_loop(loop: asyncio.AbstractEventLoop, read: SeriesHistory, timeout: float) -> SeriesHistory:
    """`read`, run on `loop` and waited for when called from another thread; called directly on the loop."""

    def read_there(name: str) -> list[tuple[Labels, Sequence[int], Sequence[float]]]:
        with contextlib.suppress(RuntimeError):
            if asyncio.get_running_loop() is loop:
                return list(read(name))
        answer: concurrent.futures.Future[list[tuple[Labels, Sequence[int], Sequence[float]]]]
        answer = concurrent.futures.Future()

        def run() -> None:
            try:
                answer.set_result(list(read(name)))
            except Exception as exc:  # handed to the waiting thread
                answer.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return answer.result(timeout)

    return read_there
