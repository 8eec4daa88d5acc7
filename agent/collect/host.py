"""The host collector: CPU, load, memory, vmstat, pressure, disks, filesystems, network and
file handles, under node_exporter 1.5's names, labels, units and types.

It parses /proc itself instead of calling psutil. psutil finds /proc through the
module-global `psutil.PROCFS_PATH`, so pointing one collector at a host mounted under
/host would repoint every other user in the process (and tests on fixture trees would
race); and node_exporter's field sets (all of /proc/meminfo, discard and flush counters,
guest time, PSI) are not in psutil anyway. The files are small text, read once a run.
Mount points are statted by `host_fs.MountStatter`, which never lets a stuck NFS mount
hang a run.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from pathlib import Path

import structlog

from agent.collect import host_metrics as m
from agent.collect import procfs
from agent.collect.host_fs import FsUsage, MountStatter, StatFunction, statvfs_usage
from agent.config.schema import HostConfig
from agent.gocompat.regex import Regex, compile_unanchored
from agent.model import Labels, MetricMeta, Sample, labels_of

log = structlog.get_logger()

# node_exporter resets a CPU's counters when idle goes back this far (a hotplugged CPU).
CPU_JUMP_BACK_SECONDS = 3.0

_Source = Callable[[], list[Sample]]


def _pattern(regex: str) -> Regex | None:
    """An exclusion regex; empty means exclude nothing, as with node_exporter's flags."""
    return compile_unanchored(regex) if regex else None  # Go regexp (RE2), as node_exporter


def _excluded(pattern: Regex | None, value: str) -> bool:
    # Unanchored: Go's MatchString searches, and the defaults anchor themselves.
    return pattern is not None and pattern.matches(value)


_CpuTimes = dict[tuple[str, str], float]  # (family name, mode) -> seconds
_IDLE = (m.CPU_SECONDS.name, "idle")


def _cpu_times(times: procfs.CpuTimes) -> _CpuTimes:
    modes = {(m.CPU_SECONDS.name, mode): value for mode, value in times.modes.items()}
    guest = {(m.CPU_GUEST_SECONDS.name, mode): value for mode, value in times.guest.items()}
    return modes | guest


class _CpuCounters:
    """Keeps each CPU's counters from going backwards (iowait can), as node_exporter 1.5 does."""

    def __init__(self) -> None:
        self._last: dict[str, _CpuTimes] = {}

    def update(self, cpus: dict[str, _CpuTimes]) -> dict[str, _CpuTimes]:
        if cpus.keys() != self._last.keys():
            self._last = {}
        self._last = {cpu: self._monotonic(cpu, times) for cpu, times in cpus.items()}
        return self._last

    def _monotonic(self, cpu: str, new: _CpuTimes) -> _CpuTimes:
        old = self._last.get(cpu, {})
        if old.get(_IDLE, 0.0) - new[_IDLE] >= CPU_JUMP_BACK_SECONDS:
            log.debug("cpu_counters_reset", cpu=cpu, old_idle=old[_IDLE], new_idle=new[_IDLE])
            old = {}
        return {key: max(value, old.get(key, value)) for key, value in new.items()}


class HostCollector:
    """Host USE metrics read from procfs and statfs, named as node_exporter names them."""

    def __init__(self, config: HostConfig, stat: StatFunction = statvfs_usage) -> None:
        self._proc = Path(config.procfs)
        self._rootfs = config.rootfs.rstrip("/") or "/"
        self._disk_exclude = _pattern(config.diskstats_device_exclude)
        self._netdev_exclude = _pattern(config.netdev_device_exclude)
        self._mount_exclude = _pattern(config.filesystem.mount_points_exclude)
        self._fstype_exclude = _pattern(config.filesystem.fs_types_exclude)
        self.mount_timeout = float(config.filesystem.mount_timeout)
        self._statter = MountStatter(self.mount_timeout, stat)
        self._cpu = _CpuCounters()
        self._discovered: dict[str, MetricMeta] = {}  # meminfo and vmstat families seen so far
        self._failing: set[str] = set()
        self._sources: tuple[tuple[str, _Source], ...] = (
            ("cpu", self._read_cpu),
            ("loadavg", self._read_loadavg),
            ("meminfo", self._read_meminfo),
            ("vmstat", self._read_vmstat),
            ("pressure", self._read_pressure),
            ("diskstats", self._read_diskstats),
            ("filesystem", self._read_filesystems),
            ("netdev", self._read_netdev),
            ("filefd", self._read_filefd),
        )

    @property
    def name(self) -> str:
        """The `collector` label: always `host`."""
        return "host"

    @property
    def instance(self) -> str:
        """The `instance` label: `default` (there is one host)."""
        return "default"

    def metrics(self) -> Sequence[MetricMeta]:
        """The fixed families, then the meminfo and vmstat fields this kernel has shown."""
        return [*m.STATIC_FAMILIES, *self._discovered.values()]

    def collect(self) -> Sequence[Sample]:
        """Read every source once; one that fails is logged and left out, the rest still report."""
        samples: list[Sample] = []
        for source, read in self._sources:
            samples.extend(self._guarded(source, read))
        return samples

    def close(self) -> None:
        """Stop the statfs workers."""
        self._statter.close()

    def _guarded(self, source: str, read: _Source) -> list[Sample]:
        try:
            samples = read()
        except (OSError, ValueError) as exc:
            if source not in self._failing:  # once per outage, not once a second
                log.warning("host_source_failed", source=source, error=str(exc))
                self._failing.add(source)
            return []
        if source in self._failing:
            log.info("host_source_recovered", source=source)
            self._failing.discard(source)
        return samples

    def _read(self, *parts: str) -> str:
        return self._proc.joinpath(*parts).read_text(encoding="utf-8", errors="replace")

    def _discover(self, meta: MetricMeta) -> str:
        self._discovered.setdefault(meta.name, meta)
        return meta.name

    def _read_cpu(self) -> list[Sample]:
        cpus = procfs.parse_stat_cpus(self._read("stat"))
        counters = self._cpu.update({cpu: _cpu_times(times) for cpu, times in cpus.items()})
        return [
            Sample(family, labels_of(cpu=cpu, mode=mode), value)
            for cpu, times in counters.items()
            for (family, mode), value in times.items()
        ]

    def _read_loadavg(self) -> list[Sample]:
        values = procfs.parse_loadavg(self._read("loadavg"))
        return [Sample(meta.name, (), value) for meta, value in zip(m.LOAD, values, strict=True)]

    def _read_meminfo(self) -> list[Sample]:
        fields = procfs.parse_meminfo(self._read("meminfo"))
        return [Sample(self._discover(m.memory_family(key)), (), value) for key, value in fields.items()]

    def _read_vmstat(self) -> list[Sample]:
        fields = procfs.parse_vmstat(self._read("vmstat"), m.VMSTAT_FIELDS)
        return [Sample(self._discover(m.vmstat_family(key)), (), value) for key, value in fields.items()]

    def _read_pressure(self) -> list[Sample]:
        samples = []
        for resource, families in m.PRESSURE.items():
            try:
                totals = procfs.parse_pressure(self._read("pressure", resource))
            except FileNotFoundError:
                return []  # kernel older than 4.20 or without CONFIG_PSI: nothing to report
            samples += [Sample(meta.name, (), totals[line]) for line, meta in families.items() if line in totals]
        return samples

    def _read_diskstats(self) -> list[Sample]:
        samples = []
        for disk in procfs.parse_diskstats(self._read("diskstats")):
            if _excluded(self._disk_exclude, disk.device):
                continue
            labels = labels_of(device=disk.device)
            # Older kernels have fewer fields (no discard or flush counters): zip stops there.
            for (meta, factor), value in zip(m.DISK_FIELDS, disk.fields, strict=False):
                samples.append(Sample(meta.name, labels, value * factor))
        return samples

    def _read_netdev(self) -> list[Sample]:
        samples = []
        for device, stats in procfs.parse_net_dev(self._read("net", "dev")).items():
            if _excluded(self._netdev_exclude, device):
                continue
            labels = labels_of(device=device)
            samples += [Sample(m.NETWORK[field].name, labels, value) for field, value in stats.items()]
        return samples

    def _read_filefd(self) -> list[Sample]:
        allocated, maximum = procfs.parse_file_nr(self._read("sys", "fs", "file-nr"))
        return [Sample(m.FILEFD_ALLOCATED.name, (), allocated), Sample(m.FILEFD_MAXIMUM.name, (), maximum)]

    def _read_filesystems(self) -> list[Sample]:
        mounts = self._selected_mounts()
        usage = self._statter.stat_all(self._host_path(mount.mountpoint) for mount in mounts)
        samples = []
        for mount in mounts:
            labels = labels_of(device=mount.device, fstype=mount.fstype, mountpoint=mount.mountpoint)
            samples += _filesystem_samples(labels, mount.readonly, usage[self._host_path(mount.mountpoint)])
        return samples

    def _selected_mounts(self) -> list[procfs.Mount]:
        """The mounts node_exporter reports: not excluded, once per (device, mountpoint, fstype)."""
        selected: dict[tuple[str, str, str], procfs.Mount] = {}
        for listed in procfs.parse_mounts(self._read_mounts()):
            mount = procfs.Mount(listed.device, self._strip_root(listed.mountpoint), listed.fstype, listed.options)
            if _excluded(self._mount_exclude, mount.mountpoint) or _excluded(self._fstype_exclude, mount.fstype):
                continue
            selected.setdefault((mount.device, mount.mountpoint, mount.fstype), mount)
        return list(selected.values())

    def _read_mounts(self) -> str:
        # The init process's mounts are the host's; /proc/1 is hidden under hidepid, so fall back.
        try:
            return self._read("1", "mounts")
        except FileNotFoundError:
            return self._read("mounts")

    def _strip_root(self, mountpoint: str) -> str:
        """The mount point as the host sees it, when our /proc shows it under the rootfs path.

        node_exporter strips the rootfs prefix as a plain string (so /hostname becomes
        `name` under /host); this strips it only at a path boundary.
        """
        if self._rootfs == "/" or not (mountpoint == self._rootfs or mountpoint.startswith(self._rootfs + "/")):
            return mountpoint
        return mountpoint[len(self._rootfs) :] or "/"

    def _host_path(self, mountpoint: str) -> str:
        return posixpath.normpath(posixpath.join(self._rootfs, mountpoint.lstrip("/")))


def _filesystem_samples(labels: Labels, readonly: bool, usage: FsUsage | None) -> list[Sample]:
    """One mount's samples; node_exporter 1.5 reports only the error flag when statfs failed."""
    if usage is None:
        return [Sample(m.FS_DEVICE_ERROR.name, labels, 1.0)]
    return [
        Sample(m.FS_DEVICE_ERROR.name, labels, 0.0),
        Sample(m.FS_READONLY.name, labels, 1.0 if readonly else 0.0),
        Sample(m.FS_SIZE.name, labels, usage.size),
        Sample(m.FS_FREE.name, labels, usage.free),
        Sample(m.FS_AVAIL.name, labels, usage.avail),
        Sample(m.FS_FILES.name, labels, usage.files),
        Sample(m.FS_FILES_FREE.name, labels, usage.files_free),
    ]
