"""Collectors for the isolation tests to host in a child process: each run does what a file says.

The test writes the next action to the file; the child reads it at each run, so a test can
make a child that is already running abort, crash, hang or fail.
"""

from __future__ import annotations

import faulthandler
import os
import time
from collections.abc import Sequence
from pathlib import Path

from agent.collect.base import PartialCollectionError, SeriesHistory
from agent.model import MetricMeta, Sample, gauge, labels_of

FAKE_METRICS = (gauge("fake_child_pid", "The child's process id."), gauge("fake_seeded_points", "Points seeded."))


class ScriptedCollector:
    """Does what its script file says at each run: ok, abort, segfault, exit, hang, partial, raise."""

    def __init__(self, script: str, instance: str = "one") -> None:
        self._script = Path(script)
        self._instance = instance
        self._seeded = 0

    @property
    def name(self) -> str:
        return "fake"

    @property
    def instance(self) -> str:
        return self._instance

    def metrics(self) -> Sequence[MetricMeta]:
        return FAKE_METRICS

    def seed(self, history: SeriesHistory) -> None:
        self._seeded += sum(len(times) for _, times, _ in history("fake_history"))

    def collect(self) -> Sequence[Sample]:
        action = self._script.read_text().strip()
        samples = [
            Sample("fake_child_pid", labels_of(), float(os.getpid())),
            Sample("fake_seeded_points", labels_of(), float(self._seeded)),
        ]
        if action == "abort":
            os.abort()  # what a librdkafka assertion does
        if action == "segfault":
            faulthandler._sigsegv()  # a real SIGSEGV
        if action == "exit":
            os._exit(3)
        if action == "hang":
            time.sleep(3600)
        if action == "partial":
            raise PartialCollectionError(samples, "requests failed: describe_groups")
        if action == "raise":
            raise ValueError("boom")
        return samples
