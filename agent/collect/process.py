"""The agent's own process: CPU, memory, file descriptors and start time, from /proc/self.

Names, types and help texts are client_python's ProcessCollector's (the same as Go's
client_golang), so the process panels of existing dashboards show tripwired unchanged. The
files are read here rather than through a prometheus_client registry, because the store, not
a registry, is what /metrics renders. Parsers are pure functions of the files' text.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.collect.procfs import USER_HZ
from agent.model import MetricMeta, Sample, counter, gauge

CPU_SECONDS = counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")
RESIDENT_MEMORY = gauge("process_resident_memory_bytes", "Resident memory size in bytes.")
VIRTUAL_MEMORY = gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.")
OPEN_FDS = gauge("process_open_fds", "Number of open file descriptors.")
MAX_FDS = gauge("process_max_fds", "Maximum number of open file descriptors.")
START_TIME = gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")

PROCESS_METRICS: tuple[MetricMeta, ...] = (CPU_SECONDS, RESIDENT_MEMORY, VIRTUAL_MEMORY, OPEN_FDS, MAX_FDS, START_TIME)

# What Go's procfs reports for an "unlimited" limit (math.MaxUint64), and so client_golang.
UNLIMITED = float(2**64 - 1)


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of /proc/PID/stat the process metrics need, in seconds, bytes and pages."""

    cpu_seconds: float
    start_seconds_after_boot: float
    virtual_bytes: float
    resident_pages: float


def parse_proc_stat(text: str) -> ProcStat:
    """/proc/PID/stat: utime + stime, starttime, vsize and rss (proc(5) fields 14, 15, 22, 23, 24)."""
    # The command name (field 2) is in parentheses and may itself hold spaces and ')'.
    fields = text.rpartition(")")[2].split()
    # fields[0] is field 3 (state), so proc(5) field N is fields[N - 3].
    return ProcStat(
        cpu_seconds=(int(fields[11]) + int(fields[12])) / USER_HZ,
        start_seconds_after_boot=int(fields[19]) / USER_HZ,
        virtual_bytes=float(fields[20]),
        resident_pages=float(fields[21]),
    )


def parse_boot_time(text: str) -> float:
    """The `btime` line of /proc/stat: when the machine booted, in Unix seconds."""
    for line in text.splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise ValueError("no btime line in /proc/stat")


def parse_max_open_files(text: str) -> float:
    """The soft limit on open files from /proc/PID/limits; UNLIMITED when there is none."""
    for line in text.splitlines():
        if line.startswith("Max open files"):
            soft = line.split()[3]
            return UNLIMITED if soft == "unlimited" else float(soft)
    raise ValueError("no 'Max open files' line in limits")


class ProcessCollector:
    """Resource use of one process (by default this one), read from procfs."""

    def __init__(self, procfs: str = "/proc", pid: str = "self", page_size: int | None = None) -> None:
        self._procfs = Path(procfs)
        self._dir = self._procfs / pid
        self._page_size = page_size if page_size is not None else os.sysconf("SC_PAGE_SIZE")
        self._boot_time: float | None = None

    @property
    def name(self) -> str:
        """The `collector` label: always `process`."""
        return "process"

    @property
    def instance(self) -> str:
        """The `instance` label: `default`."""
        return "default"

    def metrics(self) -> Sequence[MetricMeta]:
        """The process_* families, as client libraries name them."""
        return PROCESS_METRICS

    def collect(self) -> list[Sample]:
        """Read the process's stat, fd directory and limits once; raises OSError when the process is gone."""
        stat = parse_proc_stat((self._dir / "stat").read_text())
        return [
            Sample(CPU_SECONDS.name, (), stat.cpu_seconds),
            Sample(RESIDENT_MEMORY.name, (), stat.resident_pages * self._page_size),
            Sample(VIRTUAL_MEMORY.name, (), stat.virtual_bytes),
            Sample(OPEN_FDS.name, (), float(len(os.listdir(self._dir / "fd")))),
            Sample(MAX_FDS.name, (), parse_max_open_files((self._dir / "limits").read_text())),
            Sample(START_TIME.name, (), self._boot() + stat.start_seconds_after_boot),
        ]

    def _boot(self) -> float:
        """Boot time, read once as client_python does. The kernel derives `btime` from the wall clock,
        so it drifts by a second now and then, and a moving start time would look like a restart to
        `changes(process_start_time_seconds[1h])`."""
        if self._boot_time is None:
            self._boot_time = parse_boot_time((self._procfs / "stat").read_text())
        return self._boot_time
