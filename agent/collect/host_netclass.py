"""Network interface properties from /sys/class/net/<iface>/, as node_exporter 1.5's netclass
collector (procfs' sysfs.NetClassByIface) reads them: link speed, MTU, operstate, carrier.

Only the files the collector exports are read. A file the kernel refuses for this kind of
interface (EINVAL for a loopback's speed, EOPNOTSUPP, no such file, no permission) leaves that
property out, as procfs does; any other error fails the interface list.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from agent.model import MetricMeta, MetricType

NETCLASS_DIR = ("class", "net")

# Files read as text: the labels of node_network_info.
TEXT_FILES = ("address", "broadcast", "duplex", "operstate", "ifalias")

# Files read as integers, in node_exporter's order: file -> (family suffix, type).
NUMERIC_FILES: dict[str, tuple[str, MetricType]] = {
    "addr_assign_type": ("address_assign_type", MetricType.GAUGE),
    "carrier": ("carrier", MetricType.GAUGE),
    "carrier_changes": ("carrier_changes_total", MetricType.COUNTER),
    "carrier_up_count": ("carrier_up_changes_total", MetricType.COUNTER),
    "carrier_down_count": ("carrier_down_changes_total", MetricType.COUNTER),
    "dev_id": ("device_id", MetricType.GAUGE),
    "dormant": ("dormant", MetricType.GAUGE),
    "flags": ("flags", MetricType.GAUGE),
    "ifindex": ("iface_id", MetricType.GAUGE),
    "iflink": ("iface_link", MetricType.GAUGE),
    "link_mode": ("iface_link_mode", MetricType.GAUGE),
    "mtu": ("mtu_bytes", MetricType.GAUGE),
    "name_assign_type": ("name_assign_type", MetricType.GAUGE),
    "netdev_group": ("net_dev_group", MetricType.GAUGE),
    "speed": ("speed_bytes", MetricType.GAUGE),
    "tx_queue_len": ("transmit_queue_length", MetricType.GAUGE),
    "type": ("protocol_type", MetricType.GAUGE),
}

# What procfs skips silently: the attribute does not apply to this interface.
_NOT_APPLICABLE = frozenset({errno.ENOENT, errno.EACCES, errno.EPERM, errno.EINVAL, errno.EOPNOTSUPP})

UP = MetricMeta("node_network_up", MetricType.GAUGE, "Value is 1 if operstate is 'up', 0 otherwise.")
INFO = MetricMeta(
    "node_network_info", MetricType.GAUGE, "Non-numeric data from /sys/class/net/<iface>, value is always 1."
)
FAMILIES = {
    file: MetricMeta(f"node_network_{suffix}", kind, f"Network device property: {suffix}")
    for file, (suffix, kind) in NUMERIC_FILES.items()
}


def interfaces(sysfs: Path) -> list[str]:
    """The interface names under /sys/class/net (its entries that are not regular files)."""
    directory = sysfs.joinpath(*NETCLASS_DIR)
    return sorted(entry.name for entry in directory.iterdir() if not entry.is_file() or entry.is_symlink())


def read_interface(directory: Path) -> dict[str, str]:
    """The files of one interface directory that node_exporter exports and the kernel answers, trimmed.

    Each is opened relative to the directory, which is looked up once: the kernel then resolves
    one name instead of the whole /sys/class/net/<iface> symlink path (half the cost of a read).
    """
    values: dict[str, str] = {}
    try:
        directory_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:  # gone since the listing: as if each of its files were
        if exc.errno not in _NOT_APPLICABLE:
            raise
        return values
    try:
        for name in (*TEXT_FILES, *NUMERIC_FILES):
            try:
                values[name] = _read_attribute(name, directory_fd)
            except OSError as exc:
                if exc.errno not in _NOT_APPLICABLE:
                    raise
    finally:
        os.close(directory_fd)
    return values


def _read_attribute(name: str, directory_fd: int) -> str:
    """One sysfs attribute: a single read of at most a page, as procfs' SysReadFile does (and cheaper
    than a text file object: about twenty are read per interface every run)."""
    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=directory_fd)
    try:
        return os.read(fd, 4096).decode("utf-8", errors="replace").strip()
    finally:
        os.close(fd)


def go_int(text: str) -> int | None:
    """An integer as Go's strconv.ParseInt(s, 0, 64) reads it (0x hex, leading-0 octal); None if not one."""
    sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text.removeprefix("+"))
    base = 10
    if digits[:2].lower() in ("0x", "0o", "0b"):
        base, digits = {"x": 16, "o": 8, "b": 2}[digits[1].lower()], digits[2:]
    elif len(digits) > 1 and digits.startswith("0"):
        base, digits = 8, digits[1:]
    try:
        value = sign * int(digits, base) if digits and "_" not in digits else None
    except ValueError:
        return None
    return value if value is not None and -(2**63) <= value < 2**63 else None


def speed_bytes(megabits: int) -> int:
    """Link speed in bytes a second from /sys's megabits; -1 (unknown) stays negative, as in node_exporter."""
    value = abs(megabits) * 1000 * 1000 // 8  # Go's integer division truncates toward zero
    return value if megabits >= 0 else -value
