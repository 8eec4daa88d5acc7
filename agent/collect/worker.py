"""The child process of an isolated collector: `python -m agent.collect.worker`.

It reads one `Hosted` description from stdin, builds that collector, then answers requests
until stdin closes: `("collect",)` with the samples (or the partial samples and the error),
`("seed", {name: series})` by seeding the collector. Whatever happens in here — a librdkafka
assertion abort, a segfault, a hang — ends or stalls this process only; the parent sees the
pipe close or the answer not come, reports it and starts a new child.

The protocol uses a private copy of stdout; fd 1 itself is pointed at stderr, so a stray
print (or a C library writing to stdout) lands in the daemon's log instead of the pipe.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import structlog

from agent.collect.base import Collector, PartialCollectionError, Seedable
from agent.collect.isolation_wire import LOG_LEVELS, ChannelClosedError, Hosted, chunks, read_frame, write_frame
from agent.memory import give_back_memory, tune_allocator
from agent.model import Labels, Sample

log = structlog.get_logger(__name__)

_PARENT_POLL_SECONDS = 1.0
# Below this a cycle's garbage is small, and a full collection plus malloc_trim every second
# cost more CPU (~0.4 s a minute at a 1 s interval) than the memory they give back is worth.
LARGE_ANSWER_ROWS = 20_000


def build(hosted: Hosted) -> Collector:
    """The collector a `Hosted` names, made with its arguments."""
    module_name, _, attribute = hosted.factory.partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    collector: Collector = factory(*hosted.args, **hosted.kwargs)
    return collector


@runtime_checkable
class Streaming(Protocol):
    """A collector that yields its samples as it produces them (the Kafka collector: 100,000 a cycle).

    `stream()` raises `PartialCollectionError` (with the samples not yet yielded) after its last
    sample when part of the run failed. The child sends the samples in frames as they come.
    """

    def stream(self) -> Iterator[Sample]:
        """Yield the run's samples as they are read; may raise PartialCollectionError after the last one."""


def answer(collector: Collector, message: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    """The frames of the reply to one request of the parent."""
    if message[0] == "seed":
        series: dict[str, list[tuple[Labels, Sequence[int], Sequence[float]]]] = message[1]
        if isinstance(collector, Seedable):
            collector.seed(lambda name: series.get(name, ()))
        yield ("seeded",)
        return
    outcome = _Outcome()
    for names, labels, values in chunks(outcome.samples_of(collector)):
        yield ("rows", names, labels, values)
    yield outcome.end


class _Outcome:
    """How a run ended, learnt while its samples stream: the frame that follows the last rows."""

    def __init__(self) -> None:
        self.end: tuple[str, ...] = ("ok",)

    def samples_of(self, collector: Collector) -> Iterator[Sample]:
        """The run's samples; its failure is kept in `end`, never raised, so the rows read before it are sent."""
        try:
            if isinstance(collector, Streaming):
                yield from collector.stream()
            else:
                yield from collector.collect()
        except PartialCollectionError as partial:
            yield from partial.samples
            self.end = ("partial", str(partial))
        except Exception as exc:  # the parent reports it like any collector's error (and drops rows sent)
            self.end = ("error", f"{type(exc).__name__}: {exc}")


def serve(collector: Collector, requests: int, replies: int) -> None:
    """Answer the parent's requests until it closes either pipe (it stopped, or is gone: no traceback then)."""
    while True:
        try:
            message = read_frame(requests)
        except ChannelClosedError:
            return
        rows = 0
        for frame in answer(collector, message):
            try:
                write_frame(replies, frame)
            except ChannelClosedError:
                return  # the daemon stopped (or was killed) while this answer was on its way
            rows += len(frame[3]) if frame[0] == "rows" else 0
        if rows >= LARGE_ANSWER_ROWS:  # its peak (100,000 samples, 30,000 futures) is transient
            give_back_memory()


def _exit_with_parent(parent: int) -> None:
    """End this process when the daemon is gone, even while the main thread is stuck in C code."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _configure_logging(argv: Iterable[str]) -> None:
    """Log as the daemon does: its `--log.level` and `--log.format`, passed on by the parent (isolated.py)."""
    # The daemon's own set-up (agent.runtime.logs), on the stderr the child shares with it. The child
    # is a process entry point like the CLI, which is why it may reach into runtime for this.
    from agent.runtime.logs import configure_logging

    parser = argparse.ArgumentParser(prog="agent.collect.worker")
    parser.add_argument("--log.level", dest="log_level", default="info", choices=LOG_LEVELS)
    parser.add_argument("--log.format", dest="log_format", default="json", choices=["json", "console"])
    args = parser.parse_args(list(argv))
    configure_logging(args.log_level, json=args.log_format == "json")


def main(argv: Iterable[str] = ()) -> int:
    """Serve one isolated collector as a child process: read its description from stdin, answer on the original stdout.

    Anything the collector prints goes to stderr, so it cannot corrupt the frames. Returns 0 when
    the parent closes the channel.
    """
    tune_allocator()  # before librdkafka starts its threads
    replies = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    requests = sys.stdin.fileno()
    _exit_with_parent(os.getppid())
    _configure_logging(argv)
    hosted: Hosted = read_frame(requests)
    collector = build(hosted)
    write_frame(replies, ("ready", os.getpid()))
    serve(collector, requests, replies)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
