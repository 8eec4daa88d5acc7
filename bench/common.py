"""Helpers shared by the benchmarks: starting tripwired, free ports, process CPU and memory from /proc, percentiles."""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from array import array
from collections.abc import Sequence
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def tripwired_command(config: Path | str, port: int, *, quiet: bool = True) -> list[str]:
    """`tripwired run` on `config`, listening on 127.0.0.1:`port`; warnings and errors only when `quiet`."""
    command = [sys.executable, "-m", "agent", "run", f"--config={config}", f"--web.listen-address=127.0.0.1:{port}"]
    return [*command, "--log.level=warning"] if quiet else command


def start_tripwired(config: Path | str, port: int) -> subprocess.Popen[bytes]:
    """A quiet `tripwired run` (its output discarded)."""
    return subprocess.Popen(tripwired_command(config, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_tree(pid: int) -> list[int]:
    """A process and its live descendants (tripwired's Kafka collector runs in a child process)."""
    tree = [pid]
    for member in tree:
        try:
            tasks = list(Path(f"/proc/{member}/task").iterdir())
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                tree.extend(int(child) for child in (task / "children").read_text().split())
            except FileNotFoundError:
                continue
    return tree


def cpu_seconds(pid: int, *, tree: bool = True) -> float:
    """User + system CPU time of a process (and by default its live descendants) so far."""
    return sum(_own_cpu_seconds(member) for member in (process_tree(pid) if tree else [pid]))


def _own_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0  # a child that ended since the tree was read
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int, *, tree: bool = True, field: str = "VmRSS") -> float:
    """Resident memory of a process (and by default its live descendants), or their peaks (VmHWM)."""
    return sum(_status_mb(member, field) for member in (process_tree(pid) if tree else [pid]))


_PRESENT = 1 << 63
_PFN = (1 << 55) - 1


def unique_rss_mb(pids: Sequence[int]) -> float | None:
    """Resident memory of processes together, each physical page counted once (None if not root).

    What `VmRSS` is for one process, for a process tree: a page the daemon and its Kafka child
    both map (the interpreter, libc, OpenSSL) counts once, as it is held once, and unlike PSS the
    figure does not depend on what other processes on the machine share those pages. Read from
    /proc/PID/pagemap, whose page frame numbers only root can see.
    """
    frames: set[int] = set()
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a child that ended meanwhile
            frames |= _frames(pid)
    if frames and frames <= {0}:
        return None  # not root: every frame number reads as 0
    return len(frames - {0}) * PAGE_SIZE / 2**20


def _frames(pid: int) -> set[int]:
    """The page frame numbers of a process's resident pages (0 for each when not root)."""
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    frames: set[int] = set()
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for line in maps:
            start, end = (int(x, 16) // PAGE_SIZE for x in line.split(None, 1)[0].split("-"))
            pagemap.seek(start * 8)
            try:
                entries = array("Q", pagemap.read((end - start) * 8))
            except OSError:  # [vsyscall]
                continue
            frames.update(entry & _PFN for entry in entries if entry & _PRESENT)
    return frames


def pss_mb(pid: int) -> float:
    """Proportional set size: resident memory with each shared page divided among the processes mapping it.

    Summed over a daemon and its child it counts the interpreter's shared pages once, as the
    kernel's memory accounting of their cgroup would; other processes running the same
    interpreter lower it too, so it is reported beside RSS, never instead of it.
    """
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except FileNotFoundError:
        return 0.0
    return next(int(line.split()[1]) for line in lines if line.startswith("Pss:")) / 1024


def _status_mb(pid: int, field: str) -> float:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except FileNotFoundError:
        return 0.0
    for line in lines:
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary_ms(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"p50 {statistics.median(ms):.2f} ms, p99 {percentile(ms, 0.99):.2f} ms"


def wait_http(url: str, timeout: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")
