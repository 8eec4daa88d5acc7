"""Pure parsers for the /proc files the host collector reads, one per file format.

Each takes the file's text and returns plain values in node_exporter's units (seconds,
bytes), so it can be tested on fixture text without a /proc tree. Names of keys follow
node_exporter 1.5's Linux collectors (cpu, stat, loadavg, meminfo, vmstat, pressure,
diskstats, netdev, filesystem, filefd, sockstat, netstat, conntrack, softnet, arp, schedstat).
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


# The /proc/stat lines node_exporter's stat collector reports (softirq only behind a flag).
STAT_KEYS = ("btime", "intr", "ctxt", "processes", "procs_running", "procs_blocked")


def parse_stat_counters(text: str) -> dict[str, float]:
    """The first number of each /proc/stat line named in STAT_KEYS (intr's is the total)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in STAT_KEYS:
            out[parts[0]] = float(int(parts[1]))
    return out


@dataclass(frozen=True, slots=True)
class SockstatProtocol:
    """One protocol line of /proc/net/sockstat{,6}: its name and key/value pairs in file order."""

    protocol: str
    values: tuple[tuple[str, int], ...]


def parse_sockstat(text: str) -> tuple[int | None, list[SockstatProtocol]]:
    """/proc/net/sockstat or sockstat6: (sockets used, if the file has that line; protocol lines)."""
    used: int | None = None
    protocols = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) < 3 or len(fields) % 2 == 0:
            raise ValueError(f"malformed sockstat line: {line!r}")
        pairs = tuple((key, int(value)) for key, value in zip(fields[1::2], fields[2::2], strict=True))
        name = fields[0].removesuffix(":")
        if name == "sockets":
            used = dict(pairs).get("used", 0)
        else:
            protocols.append(SockstatProtocol(name, pairs))
    return used, protocols


def parse_netstat(text: str) -> dict[str, dict[str, str]]:
    """/proc/net/netstat or snmp: {protocol: {field: value}} from its header and value line pairs."""
    stats: dict[str, dict[str, str]] = {}
    lines = text.splitlines()
    for names_line, values_line in zip(lines[::2], lines[1::2], strict=False):
        names, values = names_line.split(" "), values_line.split(" ")
        protocol = names[0].removesuffix(":")
        if len(names) != len(values):
            raise ValueError(f"field count mismatch in netstat protocol {protocol}")
        stats[protocol] = dict(zip(names[1:], values[1:], strict=True))
    return stats


def parse_snmp6(text: str) -> dict[str, dict[str, str]]:
    """/proc/net/snmp6 (`Ip6InReceives  347` per line) split as node_exporter does, after the `6`."""
    stats: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2 or "6" not in fields[0]:
            continue
        protocol, _, name = fields[0].partition("6")
        stats.setdefault(protocol + "6", {})[name] = fields[1]
    return stats


# Columns of /proc/net/stat/nf_conntrack that node_exporter sums over CPUs, by position.
CONNTRACK_STAT_COLUMNS = {
    "found": 2,
    "invalid": 4,
    "ignore": 5,
    "insert": 8,
    "insert_failed": 9,
    "drop": 10,
    "early_drop": 11,
    "search_restart": 16,
}


def parse_conntrack_stat(text: str) -> dict[str, float]:
    """/proc/net/stat/nf_conntrack: each CONNTRACK_STAT_COLUMNS counter summed over the CPU lines (hex)."""
    totals = dict.fromkeys(CONNTRACK_STAT_COLUMNS, 0.0)
    for line in text.splitlines()[1:]:  # a header line
        fields = line.split()
        if len(fields) != 17:
            raise ValueError("invalid conntrack stat entry, missing fields")
        for name, column in CONNTRACK_STAT_COLUMNS.items():
            totals[name] += int(fields[column], 16)
    return totals


def parse_uint(text: str) -> float:
    """A file holding one unsigned integer, such as /proc/sys/net/netfilter/nf_conntrack_max."""
    value = int(text.strip())
    if value < 0:
        raise ValueError(f"not an unsigned integer: {text.strip()!r}")
    return float(value)


def parse_softnet(text: str) -> list[tuple[float, float, float]]:
    """/proc/net/softnet_stat: per line (one a CPU, in file order), packets processed, dropped, squeezed."""
    stats = []
    for line in text.splitlines():
        columns = line.split()
        if len(columns) < 9:
            raise ValueError(f"{len(columns)} columns were detected, but at least 9 were expected")
        processed, dropped, squeezed = (float(int(column, 16)) for column in columns[:3])
        stats.append((processed, dropped, squeezed))
    return stats


def parse_arp(text: str) -> dict[str, float]:
    """/proc/net/arp: the number of entries per device (its last column)."""
    entries: dict[str, float] = {}
    for line in text.splitlines():
        columns = line.split()
        if len(columns) < 6:
            raise ValueError("unexpected ARP table format")
        if columns[0] != "IP":  # the header line
            entries[columns[-1]] = entries.get(columns[-1], 0.0) + 1
    return entries


_SCHEDSTAT_CPU = re.compile(r"cpu(\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)")


def parse_schedstat(text: str) -> dict[str, tuple[float, float, float]]:
    """/proc/schedstat: per CPU, seconds running, seconds waiting and timeslices (its 7th-9th fields)."""
    cpus = {}
    for line in text.splitlines():
        match = _SCHEDSTAT_CPU.search(line)
        if match:
            running, waiting, slices = (int(match.group(i)) for i in (8, 9, 10))
            cpus[match.group(1)] = (running / 1e9, waiting / 1e9, float(slices))
    return cpus
