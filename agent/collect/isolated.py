"""A collector run in a supervised child process, so that its crash or hang is not the daemon's.

librdkafka is C: an assertion abort or a segfault in it ends the process it runs in, and a
hang holds a thread forever. The Kafka collector therefore runs in a child process
(`agent.collect.worker`), one per cluster, and this class stands in for it in the daemon:
same name, instance and metric families, and `collect()` asks the child over a pipe.

When the child dies (its exit code or signal is logged) or does not answer within its
deadline (it is killed), the run fails — `tripwired_collector_up 0` — and a new child is
started at a later run, after an exponential backoff that a successful run resets.
`restarts_total` counts the new children. Every new child, the first and each replacement,
is seeded from the stored history before its first run: a restarted Kafka child would
otherwise count a lagging group's lag in seconds from its own start. Any collector can be
hosted this way by naming its class in a `Hosted`; the registry decides which run isolated.

One child per cluster rather than one for all: one cluster's crash does not blank the
others, clusters are collected in parallel as before, and the protocol stays one collector
per pipe; each extra cluster costs one more interpreter with confluent-kafka loaded.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from agent.clock import Clock
from agent.collect.base import PartialCollectionError, SeriesHistory
from agent.collect.isolation_wire import (
    LOG_LEVELS,
    AnswerTimeoutError,
    ChannelClosedError,
    Hosted,
    ReceivedSamples,
    read_frame,
    write_frame,
)
from agent.model import MetricMeta, Sample

log = structlog.get_logger(__name__)

WORKER_COMMAND = (sys.executable, "-m", "agent.collect.worker")
# Importing confluent-kafka in a fresh interpreter takes ~0.3 s here; a loaded machine may take far longer.
START_TIMEOUT = 30.0
_EXIT_WAIT = 5.0


class IsolatedError(Exception):
    """The child failed the run: it raised, died, stopped answering, or is waiting to be restarted."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays before restarting a child: `initial`, doubled per failure in a row, at most `maximum`."""

    initial: float = 1.0
    maximum: float = 60.0

    def delay(self, failures: int) -> float:
        """Seconds to wait before the restart that follows `failures` failures in a row."""
        return float(min(self.maximum, self.initial * 2 ** max(0, failures - 1)))


def answer_timeout(run_timeout: float) -> float:
    """How long a child may take to answer one run before it is deemed hung and killed.

    Longer than the run's own timeout: a run that is merely slow is reported by the runner
    (timed out, later runs skipped) without losing the child and its memory; a child that
    is still silent at twice that, and at least 5 s more, is stuck.
    """
    return run_timeout + max(5.0, run_timeout)


class _Child:
    """One child process and its two pipe ends."""

    def __init__(self, hosted: Hosted, command: Sequence[str]) -> None:
        self.proc = subprocess.Popen(
            [*command, *logging_arguments()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._requests = self.proc.stdin.fileno()
        self._replies = self.proc.stdout.fileno()
        write_frame(self._requests, hosted)
        read_frame(self._replies, START_TIMEOUT)  # ("ready", pid): the collector is built

    @property
    def pid(self) -> int:
        return self.proc.pid

    def ask(self, message: tuple[Any, ...], timeout: float) -> Any:
        write_frame(self._requests, message)
        return read_frame(self._replies, timeout)

    def collect(self, timeout: float) -> Sequence[Sample]:
        """One run's samples; the child's own failure raised as the runner expects it."""
        deadline = time.monotonic() + timeout
        write_frame(self._requests, ("collect",))
        samples = ReceivedSamples()
        while True:
            frame = read_frame(self._replies, deadline - time.monotonic())
            if frame[0] == "rows":
                samples.add(*frame[1:])
            elif frame[0] == "ok":
                return samples
            elif frame[0] == "partial":
                raise PartialCollectionError(samples, frame[1])
            else:
                raise IsolatedError(frame[1])

    def end(self, kill: bool) -> int:
        """Stop the process (closing its stdin asks it to exit; `kill` does not ask) and reap it."""
        if kill:
            self.proc.kill()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        try:
            return self.proc.wait(_EXIT_WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def logging_arguments() -> list[str]:
    """The daemon's `--log.level` and `--log.format`, read from structlog's configuration, for a child.

    The child writes to the daemon's stderr: its lines must be as verbose, and in the same
    format, as the daemon's own.
    """
    config = structlog.get_config()
    levels = logging.getLevelNamesMapping()
    level = next(
        (
            name
            for name in LOG_LEVELS
            if structlog.make_filtering_bound_logger(levels[name.upper()]) is config["wrapper_class"]
        ),
        "info",
    )
    json = any(isinstance(p, structlog.processors.JSONRenderer) for p in config["processors"])
    return [f"--log.level={level}", f"--log.format={'json' if json else 'console'}"]


def describe_exit(code: int) -> dict[str, str | int]:
    """Log fields for how a child ended: its exit code, or the signal that killed it."""
    if code < 0:
        try:
            return {"signal": signal.Signals(-code).name}
        except ValueError:
            return {"signal": str(-code)}
    return {"exit_code": code}


class IsolatedCollector:
    """Stands in for a collector that runs in a child process; restarts the child when it is lost."""

    def __init__(
        self,
        hosted: Hosted,
        clock: Clock,
        *,
        answer_timeout: float,
        backoff: Backoff = Backoff(),
        command: Sequence[str] = WORKER_COMMAND,
    ) -> None:
        self._hosted = hosted
        self._clock = clock
        self._answer_timeout = answer_timeout
        self._backoff = backoff
        self._command = tuple(command)
        self._child: _Child | None = None
        self._started = 0
        self._failures = 0  # children lost in a row
        self._restart_at = 0.0
        self._last_loss = ""
        self._history: SeriesHistory | None = None
        self._seeded: _Child | None = None  # the child that has been given the history
        self._closed = False
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The hosted collector's kind, as if it ran in this process."""
        return self._hosted.name

    @property
    def instance(self) -> str:
        """The hosted collector's instance."""
        return self._hosted.instance

    def metrics(self) -> Sequence[MetricMeta]:
        """The families the hosted collector declares."""
        return self._hosted.metrics

    @property
    def restarts_total(self) -> int:
        """How many children were started after the first one."""
        return max(0, self._started - 1)

    @property
    def pid(self) -> int | None:
        """The running child's process id (for tests and the status page)."""
        child = self._child
        return None if child is None else child.pid

    def seed(self, history: SeriesHistory) -> None:
        """Where the hosted collector's memory comes from: each new child is seeded from it before its first run.

        `history` is read when a child starts, in the collecting thread, so it must be safe to
        call from any thread (the daemon's reads the store on its event loop).
        """
        self._history = history

    def collect(self) -> Sequence[Sample]:
        """Run the hosted collector once in the child, starting or restarting the child as needed.

        Raises IsolatedError when the child died, stopped answering (it is then killed) or waits
        out its restart backoff; PartialCollectionError passes through from the child.
        """
        with self._lock:
            child = self._running_child()
            try:
                if self._seeded is not child:
                    self._seed_child(child)
                samples = child.collect(self._answer_timeout)
            except ChannelClosedError:
                raise self._lost(child, kill=False, why="exited") from None
            except AnswerTimeoutError:
                raise self._lost(child, kill=True, why="unresponsive") from None
            except (PartialCollectionError, IsolatedError):
                self._failures = 0  # the child answered: it is alive, whatever the run found
                raise
        self._failures = 0
        return samples

    def _seed_child(self, child: _Child) -> None:
        """Hand a new child the stored history of the families its collector is seeded from.

        A history that cannot be read leaves the child unseeded, which the collector reports
        truthfully (Kafka's lag in seconds then says it is only a lower bound).
        """
        self._seeded = child
        if self._history is None or not self._hosted.seeded_from:
            return
        try:
            series = {name: list(self._history(name)) for name in self._hosted.seeded_from}
        except Exception as exc:  # the daemon stopping under us, or a bug: the run goes on unseeded
            log.warning("collector_seed_failed", collector=self.name, instance=self.instance, error=repr(exc))
            return
        child.ask(("seed", series), self._answer_timeout)

    def close(self) -> None:
        """Stop the child; a run in progress sees its pipe close."""
        self._closed = True
        child, self._child = self._child, None
        if child is not None:
            child.end(kill=False)

    def _running_child(self) -> _Child:
        if self._closed:
            raise IsolatedError("closed")
        if self._child is not None:
            return self._child
        if self._clock.monotonic() < self._restart_at:  # the loss's own message: the runner logs it once
            raise IsolatedError(f"child process {self._last_loss}")
        try:
            self._child = _Child(self._hosted, self._command)
        except (ChannelClosedError, AnswerTimeoutError, OSError) as exc:
            self._failures += 1
            self._restart_at = self._clock.monotonic() + self._backoff.delay(self._failures)
            self._last_loss = f"could not start: {type(exc).__name__}: {exc}"
            raise IsolatedError(f"child process {self._last_loss}") from None
        self._started += 1
        if self._started > 1:
            log.info("collector_process_restarted", collector=self.name, instance=self.instance, pid=self._child.pid)
        return self._child

    def _lost(self, child: _Child, *, kill: bool, why: str) -> IsolatedError:
        """Reap a child that died or hung, log how, and schedule the next one."""
        self._child = None
        code = child.end(kill=kill)
        if self._closed:
            return IsolatedError("closed")
        self._failures += 1
        delay = self._backoff.delay(self._failures)
        self._restart_at = self._clock.monotonic() + delay
        how = describe_exit(code)
        log.error(
            f"collector_process_{why}",
            collector=self.name,
            instance=self.instance,
            pid=child.pid,
            restart_in_seconds=delay,
            **({"answer_timeout_seconds": self._answer_timeout} if kill else how),
        )
        self._last_loss = "stopped answering and was killed" if kill else f"ended ({_how_text(how)})"
        return IsolatedError(f"child process {self._last_loss}")


def _how_text(how: dict[str, str | int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in how.items())
