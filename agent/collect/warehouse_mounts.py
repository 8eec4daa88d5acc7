"""Which filesystem and which block devices hold a path, named as node_exporter names them.

The filesystem is the mount whose mount point is the longest prefix of the path's real
path in `<procfs>/self/mountinfo` (the last one wins when several are stacked on the same
point, as the kernel shows the top one). Its `device` and `mountpoint` are what
node_exporter puts in `node_filesystem_*{device,mountpoint}`: the mount source as written,
and the mount point with only `\\040` and `\\011` decoded.

The block devices come from `<sysfs>/dev/block/MAJ:MIN`: the device's own kernel name (as
/proc/diskstats and so `node_disk_*{device}` list it), then, for a partition, its disk,
and for a device-mapper or md device, the devices under it (`slaves/`). Filesystems with
an anonymous device number (btrfs, major 0) are found by their mount source instead:
`/dev/mapper/NAME` through each `dm-N/dm/name`, `/dev/NAME` through `class/block/NAME`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True, slots=True)
class Mount:
    """One line of a mountinfo file."""

    major: int
    minor: int
    mountpoint: str  # decoded, for matching paths
    mountpoint_label: str  # as node_exporter's `mountpoint` label shows it
    fstype: str
    source: str  # node_exporter's `device` label
    # The filesystem's own read-only flag (super options), not this mount's: the agent's sandbox
    # (systemd ProtectSystem, a `:ro` container volume) mounts warehouses read-only for itself only.
    filesystem_readonly: bool = False


def unescape_mountinfo(field: str) -> str:
    """Decode the kernel's octal escapes (space, tab, newline, backslash) in a mountinfo field."""
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """Every mount of a /proc/<pid>/mountinfo file; malformed lines are skipped."""
    mounts = []
    for line in text.splitlines():
        mount = _parse_mountinfo_line(line)
        if mount is not None:
            mounts.append(mount)
    return mounts


def _parse_mountinfo_line(line: str) -> Mount | None:
    # id parent MAJ:MIN root mountpoint options [optional...] - fstype source superoptions
    left, sep, right = line.partition(" - ")
    fields, tail = left.split(" "), right.split(" ")
    if not sep or len(fields) < 6 or len(tail) < 2:
        return None
    major, _, minor = fields[2].partition(":")
    if not (major.isdigit() and minor.isdigit()):
        return None
    raw_mountpoint = fields[4]
    return Mount(
        major=int(major),
        minor=int(minor),
        mountpoint=unescape_mountinfo(raw_mountpoint),
        mountpoint_label=raw_mountpoint.replace("\\040", " ").replace("\\011", "\t"),
        fstype=tail[0],
        source=tail[1],
        filesystem_readonly=len(tail) > 2 and "ro" in tail[2].split(","),
    )


def read_mountinfo(procfs: str) -> list[Mount]:
    """The mounts this process sees: the namespace in which warehouse paths are resolved."""
    path = os.path.join(procfs, "self", "mountinfo")
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return parse_mountinfo(f.read())


def mount_of(path: str, mounts: Iterable[Mount]) -> Mount | None:
    """The mount holding an absolute, already resolved path: longest mount point prefix, last wins."""
    best: Mount | None = None
    for mount in mounts:
        if _is_under(path, mount.mountpoint) and (best is None or len(mount.mountpoint) >= len(best.mountpoint)):
            best = mount
    return best


def _is_under(path: str, mountpoint: str) -> bool:
    if mountpoint == "/":
        return path.startswith("/")
    return path == mountpoint or path.startswith(mountpoint + "/")


def block_devices(mount: Mount, sysfs: str) -> list[str]:
    """Kernel names of the block devices under a mount, its own device first; empty when none."""
    device_dir = _device_dir_by_number(sysfs, mount.major, mount.minor) or _device_dir_by_source(sysfs, mount.source)
    if device_dir is None:
        return []
    names: list[str] = []
    _collect_stack(device_dir, names, seen=set())
    return names


def _device_dir_by_number(sysfs: str, major: int, minor: int) -> str | None:
    if major == 0:
        return None  # anonymous device numbers (tmpfs, overlay, nfs, btrfs) have no sysfs entry
    link = os.path.join(sysfs, "dev", "block", f"{major}:{minor}")
    return os.path.realpath(link) if os.path.exists(link) else None


def _device_dir_by_source(sysfs: str, source: str) -> str | None:
    if source.startswith("/dev/mapper/"):
        return _device_mapper_dir(sysfs, source.removeprefix("/dev/mapper/"))
    if source.startswith("/dev/"):
        link = os.path.join(sysfs, "class", "block", os.path.basename(source))
        return os.path.realpath(link) if os.path.exists(link) else None
    return None


def _device_mapper_dir(sysfs: str, dm_name: str) -> str | None:
    class_block = os.path.join(sysfs, "class", "block")
    try:
        candidates = sorted(n for n in os.listdir(class_block) if n.startswith("dm-"))
    except OSError:
        return None
    for candidate in candidates:
        device_dir = os.path.realpath(os.path.join(class_block, candidate))
        if _read_first_line(os.path.join(device_dir, "dm", "name")) == dm_name:
            return device_dir
    return None


def _collect_stack(device_dir: str, names: list[str], seen: set[str]) -> None:
    if device_dir in seen:
        return
    seen.add(device_dir)
    names.append(_kernel_name(device_dir))
    if os.path.exists(os.path.join(device_dir, "partition")):
        _collect_stack(os.path.dirname(device_dir), names, seen)
    for slave_link in _slave_links(device_dir):
        _collect_stack(os.path.realpath(slave_link), names, seen)


def _slave_links(device_dir: str) -> list[str]:
    slaves = os.path.join(device_dir, "slaves")
    try:
        return [os.path.join(slaves, name) for name in sorted(os.listdir(slaves))]
    except OSError:
        return []


def _kernel_name(device_dir: str) -> str:
    # sysfs writes the '/' of names like cciss/c0d0 as '!'; /proc/diskstats keeps the '/'.
    return os.path.basename(device_dir).replace("!", "/")


def _read_first_line(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().strip()
    except OSError:
        return None
