"""Pure parsers for the /proc files the host collector reads, one per file format.

Each takes the file's text and returns plain values in node_exporter's units (seconds,
bytes), so it can be tested on fixture text without a /proc tree. Names of keys follow
node_exporter 1.5's Linux collectors (cpu, loadavg, meminfo, vmstat, pressure,
diskstats, netdev, filesystem, filefd).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# /proc/stat counts in USER_HZ, which the kernel fixes at 100 on every architecture
# (it is not CONFIG_HZ); node_exporter's procfs library hardcodes the same value.
USER_HZ = 100.0

CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
CPU_GUEST_MODES = ("user", "nice")

SECTOR_BYTES = 512  # /proc/diskstats counts 512-byte sectors whatever the device's block size

_MEMINFO_PARENS = re.compile(r"\((.*)\)")


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """Seconds one CPU spent in each mode, and in guests (which /proc/stat also counts in user/nice)."""

    modes: dict[str, float]
    guest: dict[str, float]


def parse_stat_cpus(text: str) -> dict[str, CpuTimes]:
    """Per-CPU times from /proc/stat, keyed by CPU number as a string ("0", "1", ...)."""
    cpus: dict[str, CpuTimes] = {}
    for line in text.splitlines():
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        name, *fields = line.split()
        values = [float(v) / USER_HZ for v in fields] + [0.0] * (10 - len(fields))
        cpus[name[3:]] = CpuTimes(
            modes=dict(zip(CPU_MODES, values[:8], strict=True)),
            guest=dict(zip(CPU_GUEST_MODES, values[8:10], strict=True)),
        )
    return cpus


def parse_loadavg(text: str) -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages from /proc/loadavg."""
    one, five, fifteen = (float(v) for v in text.split()[:3])
    return one, five, fifteen


def parse_meminfo(text: str) -> dict[str, float]:
    """/proc/meminfo as node_exporter names it: `Active(anon): 8 kB` -> `Active_anon_bytes: 8192`."""
    fields: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) not in (2, 3):
            continue  # some kernels print blank lines
        key = _MEMINFO_PARENS.sub(r"_\1", parts[0].rstrip(":"))
        value = float(parts[1])
        if len(parts) == 3:  # the only unit the kernel prints is kB
            key, value = key + "_bytes", value * 1024
        fields[key] = value
    return fields


def parse_vmstat(text: str, fields: re.Pattern[str]) -> dict[str, float]:
    """The /proc/vmstat counters whose names `fields` matches (searched, as Go's MatchString does)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and fields.search(parts[0]):
            out[parts[0]] = float(parts[1])
    return out


def parse_pressure(text: str) -> dict[str, float]:
    """Total stall seconds per line of a /proc/pressure/* file: {"some": s, "full": s}."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        kind, *pairs = line.split()
        for pair in pairs:
            key, _, value = pair.partition("=")
            if key == "total":
                # microseconds; divided in two steps as node_exporter does, so the floats match
                totals[kind] = float(value) / 1000.0 / 1000.0
    return totals


@dataclass(frozen=True, slots=True)
class DiskStats:
    """One line of /proc/diskstats: the device name and its statistics fields (11, 15 or 17)."""

    device: str
    fields: tuple[int, ...]


def parse_diskstats(text: str) -> list[DiskStats]:
    """Every device line of /proc/diskstats, fields after major, minor and name."""
    disks = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 14:
            disks.append(DiskStats(parts[2], tuple(int(v) for v in parts[3:])))
    return disks


NET_DEV_FIELDS = (
    "receive_bytes",
    "receive_packets",
    "receive_errs",
    "receive_drop",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errs",
    "transmit_drop",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
)


def parse_net_dev(text: str) -> dict[str, dict[str, float]]:
    """/proc/net/dev: per interface, its 16 counters under node_exporter's names."""
    devices: dict[str, dict[str, float]] = {}
    for line in text.splitlines()[2:]:  # two header lines
        name, sep, rest = line.partition(":")
        values = rest.split()
        if sep and len(values) == len(NET_DEV_FIELDS):
            devices[name.strip()] = {k: float(v) for k, v in zip(NET_DEV_FIELDS, values, strict=True)}
    return devices


@dataclass(frozen=True, slots=True)
class Mount:
    """One line of a mounts file."""

    device: str
    mountpoint: str
    fstype: str
    options: tuple[str, ...]

    @property
    def readonly(self) -> bool:
        """Whether the mount's options include `ro`."""
        return "ro" in self.options


def parse_mounts(text: str) -> list[Mount]:
    """/proc/<pid>/mounts, decoding the space and tab escapes in mount points as node_exporter does."""
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        mountpoint = parts[1].replace("\\040", " ").replace("\\011", "\t")
        mounts.append(Mount(parts[0], mountpoint, parts[2], tuple(parts[3].split(","))))
    return mounts


def parse_file_nr(text: str) -> tuple[float, float]:
    """/proc/sys/fs/file-nr: (allocated, maximum) file handles."""
    allocated, _unused, maximum = text.split()[:3]
    return float(allocated), float(maximum)
