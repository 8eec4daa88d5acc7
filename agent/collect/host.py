"""The host collector: CPU, load, memory, vmstat, pressure, disks, filesystems, network
(counters and /sys/class/net properties), file handles, /proc/stat counters, uname,
os-release, time, timex, sockets, netstat, conntrack, entropy, softnet, ARP and schedstat, under
node_exporter 1.5's names, labels, units and types.

It parses /proc itself instead of calling psutil. psutil finds /proc through the
module-global `psutil.PROCFS_PATH`, so pointing one collector at a host mounted under
/host would repoint every other user in the process (and tests on fixture trees would
race); and node_exporter's field sets (all of /proc/meminfo, discard and flush counters,
guest time, PSI) are not in psutil anyway. The files are small text, each read once a run
(/proc/stat serves the cpu and stat sources from one read).
Mount points are statted by `host_fs.MountStatter`, which never lets a stuck NFS mount
hang a run.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import structlog

from agent.collect import host_metrics as m
from agent.collect import host_netclass, host_system, procfs
from agent.collect.host_fs import FsUsage, MountStatter, StatFunction, statvfs_usage
from agent.config.schema import HostConfig
from agent.gocompat.regex import Regex, compile_unanchored
from agent.model import Labels, MetricMeta, Sample, labels_of

log = structlog.get_logger()

# node_exporter resets a CPU's counters when idle goes back this far (a hotplugged CPU).
CPU_JUMP_BACK_SECONDS = 3.0

_Source = Callable[[], list[Sample]]
_Family = Callable[[str], MetricMeta]  # a field's family, from host_metrics


def _pattern(regex: str) -> Regex | None:
    """An exclusion regex; empty means exclude nothing, as with node_exporter's flags."""
    return compile_unanchored(regex) if regex else None  # Go regexp (RE2), as node_exporter


def _excluded(pattern: Regex | None, value: str) -> bool:
    # Unanchored: Go's MatchString searches, and the defaults anchor themselves.
    return pattern is not None and pattern.matches(value)


def _selected(pattern: Regex | None, value: str) -> bool:
    """An inclusion regex (searched, as Go's MatchString); empty selects everything."""
    return pattern is None or pattern.matches(value)


# The keys of a sockstat line node_exporter exports; others (a newer kernel's) are left out.
SOCKSTAT_STATES = ("inuse", "orphan", "tw", "alloc", "mem", "memory")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")  # sockstat counts memory in pages
_READ_BYTES = 65536

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
        self._proc = config.procfs
        self._sys = Path(config.sysfs)
        self._rootfs = config.rootfs.rstrip("/") or "/"
        self._disk_exclude = _pattern(config.diskstats_device_exclude)
        self._netdev_exclude = _pattern(config.netdev_device_exclude)
        self._mount_exclude = _pattern(config.filesystem.mount_points_exclude)
        self._fstype_exclude = _pattern(config.filesystem.fs_types_exclude)
        self._netstat_fields = _pattern(config.netstat_fields)
        self._netclass_ignored = _pattern(config.netclass_ignored_devices)
        self.mount_timeout = float(config.filesystem.mount_timeout)
        self._statter = MountStatter(self.mount_timeout, stat)
        self._cpu = _CpuCounters()
        self._discovered: dict[str, MetricMeta] = {}  # meminfo, vmstat, sockstat, netstat families seen
        self._failing: set[str] = set()
        self._this_run: dict[tuple[str, ...], str] = {}  # /proc files already read during this run
        self._netstat_families: dict[tuple[str, str], str | None] = {}  # (protocol, field) -> family
        self._sockstat_families: dict[tuple[str, str], str] = {}  # (protocol, state) -> family
        self._field_families: dict[tuple[_Family, str], str] = {}  # (meminfo or vmstat, field) -> family
        self._sources: tuple[tuple[str, _Source], ...] = (
            ("cpu", self._read_cpu),
            ("loadavg", self._read_loadavg),
            ("meminfo", self._read_meminfo),
            ("vmstat", self._read_vmstat),
            ("pressure", self._read_pressure),
            ("diskstats", self._read_diskstats),
            ("filesystem", self._read_filesystems),
            ("netdev", self._read_netdev),
            ("netclass", self._read_netclass),
            ("filefd", self._read_filefd),
            ("stat", self._read_stat),
            ("uname", self._read_uname),
            ("os", self._read_os_release),
            ("time", self._read_time),
            ("clocksource", self._read_clocksources),
            ("timex", self._read_timex),
            ("sockstat", self._read_sockstat),
            ("netstat", self._read_netstat),
            ("conntrack", self._read_conntrack),
            ("entropy", self._read_entropy),
            ("softnet", self._read_softnet),
            ("arp", self._read_arp),
            ("schedstat", self._read_schedstat),
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
        """The fixed families, then the meminfo, vmstat, sockstat and netstat fields this kernel has shown."""
        return [*m.STATIC_FAMILIES, *self._discovered.values()]

    def collect(self) -> Sequence[Sample]:
        """Read every source once; one that fails is logged and left out, the rest still report."""
        samples: list[Sample] = []
        self._this_run = {}
        try:
            for source, read in self._sources:
                samples.extend(self._guarded(source, read))
        finally:
            self._this_run = {}
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
        """A file under procfs, read at most once a run however many sources parse it."""
        if parts not in self._this_run:
            self._this_run[parts] = _read_text(os.path.join(self._proc, *parts))
        return self._this_run[parts]

    def _discover(self, meta: MetricMeta) -> str:
        self._discovered.setdefault(meta.name, meta)
        return meta.name

    def _field_family(self, make: _Family, field: str) -> str:
        """The family of a meminfo or vmstat field, made and declared once (not again every run)."""
        family = self._field_families.get((make, field))
        if family is None:
            family = self._field_families[make, field] = self._discover(make(field))
        return family

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
        return [Sample(self._field_family(m.memory_family, key), (), value) for key, value in fields.items()]

    def _read_vmstat(self) -> list[Sample]:
        fields = procfs.parse_vmstat(self._read("vmstat"), m.VMSTAT_FIELDS)
        return [Sample(self._field_family(m.vmstat_family, key), (), value) for key, value in fields.items()]

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

    def _read_netclass(self) -> list[Sample]:
        try:
            names = host_netclass.interfaces(self._sys)
        except FileNotFoundError:
            return []  # no /sys/class/net (sysfs not mounted): nothing to report, as node_exporter
        samples = []
        for name in names:
            if not _excluded(self._netclass_ignored, name):
                values = host_netclass.read_interface(self._sys.joinpath(*host_netclass.NETCLASS_DIR, name))
                samples += _netclass_samples(name, values)
        return samples

    def _read_filefd(self) -> list[Sample]:
        allocated, maximum = procfs.parse_file_nr(self._read("sys", "fs", "file-nr"))
        return [Sample(m.FILEFD_ALLOCATED.name, (), allocated), Sample(m.FILEFD_MAXIMUM.name, (), maximum)]

    def _read_stat(self) -> list[Sample]:
        counters = procfs.parse_stat_counters(self._read("stat"))
        return [Sample(m.STAT[key].name, (), value) for key, value in counters.items()]

    def _read_uname(self) -> list[Sample]:
        return [Sample(m.UNAME_INFO.name, labels_of(host_system.uname_labels()), 1.0)]

    def _read_os_release(self) -> list[Sample]:
        release = host_system.parse_os_release(self._read_os_release_file())
        info = {label: release.get(key, "") for label, key in host_system.OS_INFO_KEYS.items()}
        samples = [Sample(m.OS_INFO.name, labels_of(info), 1.0)]
        version = host_system.os_version(info["version_id"])
        if version > 0:
            version_labels = labels_of(id=info["id"], id_like=info["id_like"], name=info["name"])
            samples.append(Sample(m.OS_VERSION.name, version_labels, version))
        return samples

    def _read_os_release_file(self) -> str:
        """The first os-release file under rootfs that exists, as node_exporter looks for them."""
        *earlier, last = host_system.OS_RELEASE_FILES
        for name in earlier:
            try:
                return Path(self._host_path(name)).read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                continue
        return Path(self._host_path(last)).read_text(encoding="utf-8", errors="replace")

    def _read_time(self) -> list[Sample]:
        zone, offset = host_system.zone()
        return [
            Sample(m.TIME_SECONDS.name, (), time.time_ns() / 1e9),
            Sample(m.TIME_ZONE_OFFSET.name, labels_of(time_zone=zone), offset),
        ]

    def _read_clocksources(self) -> list[Sample]:
        """Each clocksource device's available and current sources; `device` is its index, as in procfs."""
        devices = sorted(self._sys.joinpath("devices", "system", "clocksource").glob("clocksource[0-9]*"))
        samples = []
        for index, device in enumerate(devices):
            available = device.joinpath("available_clocksource").read_text(encoding="utf-8").split()
            current = device.joinpath("current_clocksource").read_text(encoding="utf-8").strip()
            samples += [
                Sample(m.CLOCKSOURCE_AVAILABLE.name, labels_of(device=str(index), clocksource=name), 1.0)
                for name in available
            ]
            samples.append(Sample(m.CLOCKSOURCE_CURRENT.name, labels_of(device=str(index), clocksource=current), 1.0))
        return samples

    def _read_timex(self) -> list[Sample]:
        values = host_system.adjtimex().values()
        return [Sample(m.TIMEX[key].name, (), value) for key, value in values.items()]

    def _read_sockstat(self) -> list[Sample]:
        samples = []
        for name in ("sockstat", "sockstat6"):
            try:
                text = self._read("net", name)
            except FileNotFoundError:
                continue  # IPv4 or IPv6 disabled in this kernel: node_exporter skips it too
            samples += self._sockstat_samples(text, ipv6=name == "sockstat6")
        return samples

    def _sockstat_samples(self, text: str, ipv6: bool) -> list[Sample]:
        used, protocols = procfs.parse_sockstat(text)
        samples = [] if ipv6 or used is None else [Sample(m.SOCKSTAT_USED.name, (), float(used))]
        for protocol in protocols:
            values = {key: value for key, value in protocol.values if key in SOCKSTAT_STATES}
            if "mem" in values:  # pages; node_exporter adds the bytes
                values["mem_bytes"] = values["mem"] * PAGE_SIZE
            for state, value in values.items():
                key = (protocol.protocol, state)
                if key not in self._sockstat_families:
                    self._sockstat_families[key] = self._discover(m.sockstat_family(*key))
                samples.append(Sample(self._sockstat_families[key], (), float(value)))
        return samples

    def _read_netstat(self) -> list[Sample]:
        stats = procfs.parse_netstat(self._read("net", "netstat"))
        stats |= procfs.parse_netstat(self._read("net", "snmp"))
        with contextlib.suppress(FileNotFoundError):  # IPv6 disabled
            stats |= procfs.parse_snmp6(self._read("net", "snmp6"))
        samples = []
        decided = self._netstat_families
        for protocol, fields in stats.items():
            for field, value in fields.items():
                key = (protocol, field)
                family = decided[key] if key in decided else self._netstat_family(protocol, field)
                if family is not None:
                    samples.append(Sample(family, (), float(value)))
        return samples

    def _netstat_family(self, protocol: str, field: str) -> str | None:
        """The family of a netstat field, None if `netstat_fields` leaves it out; decided once per field."""
        key = (protocol, field)
        if key not in self._netstat_families:
            selected = _selected(self._netstat_fields, f"{protocol}_{field}")
            self._netstat_families[key] = self._discover(m.netstat_family(protocol, field)) if selected else None
        return self._netstat_families[key]

    def _read_conntrack(self) -> list[Sample]:
        netfilter = ("sys", "net", "netfilter")
        try:
            entries = procfs.parse_uint(self._read(*netfilter, "nf_conntrack_count"))
        except FileNotFoundError:
            return []  # nf_conntrack not loaded: nothing to report, as node_exporter
        samples = [
            Sample(m.CONNTRACK_ENTRIES.name, (), entries),
            Sample(m.CONNTRACK_LIMIT.name, (), procfs.parse_uint(self._read(*netfilter, "nf_conntrack_max"))),
        ]
        try:
            totals = procfs.parse_conntrack_stat(self._read("net", "stat", "nf_conntrack"))
        except FileNotFoundError:
            return samples
        return samples + [Sample(m.CONNTRACK_STAT[key].name, (), value) for key, value in totals.items()]

    def _read_entropy(self) -> list[Sample]:
        random = ("sys", "kernel", "random")
        return [
            Sample(m.ENTROPY_AVAILABLE.name, (), procfs.parse_uint(self._read(*random, "entropy_avail"))),
            Sample(m.ENTROPY_POOL_SIZE.name, (), procfs.parse_uint(self._read(*random, "poolsize"))),
        ]

    def _read_softnet(self) -> list[Sample]:
        samples = []
        for index, values in enumerate(procfs.parse_softnet(self._read("net", "softnet_stat"))):
            labels = labels_of(cpu=str(index))  # the line's position, as node_exporter numbers it
            samples += [Sample(meta.name, labels, value) for meta, value in zip(m.SOFTNET, values, strict=True)]
        return samples

    def _read_arp(self) -> list[Sample]:
        entries = procfs.parse_arp(self._read("net", "arp"))
        return [Sample(m.ARP_ENTRIES.name, labels_of(device=device), count) for device, count in entries.items()]

    def _read_schedstat(self) -> list[Sample]:
        try:
            cpus = procfs.parse_schedstat(self._read("schedstat"))
        except FileNotFoundError:
            return []  # a kernel without CONFIG_SCHEDSTATS: nothing to report, as node_exporter
        return [
            Sample(meta.name, labels_of(cpu=cpu), value)
            for cpu, values in cpus.items()
            for meta, value in zip(m.SCHEDSTAT, values, strict=True)
        ]

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


def _read_text(path: str) -> str:
    """A whole procfs file, with plain reads (a text file object costs more than the read: ~26 files a run)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, _READ_BYTES):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors="replace")


def _netclass_samples(device: str, values: dict[str, str]) -> list[Sample]:
    """One interface's node_network_up, node_network_info and its numeric properties."""
    labels = labels_of(device=device)
    info = labels_of({name: values.get(name, "") for name in host_netclass.TEXT_FILES}, device=device)
    samples = [
        Sample(host_netclass.UP.name, labels, 1.0 if values.get("operstate") == "up" else 0.0),
        Sample(host_netclass.INFO.name, info, 1.0),
    ]
    for file, family in host_netclass.FAMILIES.items():
        number = host_netclass.go_int(values[file]) if file in values else None
        if number is not None:
            value = host_netclass.speed_bytes(number) if file == "speed" else number
            samples.append(Sample(family.name, labels, float(value)))
    return samples


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
