"""The warehouse collectors: disk USE under each warehouse path, and scans of the data in it.

Two collectors per configured warehouse (their `instance` is the warehouse's name), because
they run at very different paces:

- `WarehouseDiskCollector` (fast, at the warehouse's interval): statvfs of each path, and
  the filesystem and block devices that hold it, as info metrics that join to
  node_exporter's series (see agent/packs/warehouse.yaml for the joins).
- `WarehouseScanCollector` (slow, at `scan.interval`): walks each path within the
  `scan.timeout` budget and reports size, file count and the oldest and newest
  modification times. Schedule it with `scan_runner_timeout(scan)`, slightly above the
  budget, since the scan stops itself and the runner's timeout is only a backstop.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Sequence

import structlog

from agent.clock import Clock
from agent.collect.warehouse_mounts import Mount, block_devices, mount_of, read_mountinfo
from agent.collect.warehouse_walk import ERROR_REASONS, ListDir, PathTotals, WalkOptions, walk
from agent.config.schema import ScanConfig, WarehouseConfig
from agent.model import Labels, MetricMeta, Sample, counter, gauge, labels_of

log = structlog.get_logger()

SCAN_TIMEOUT_GRACE_SECONDS = 5.0

DISK_METRICS = (
    gauge(
        "warehouse_path_info",
        "The filesystem holding a warehouse path; device and mountpoint as in node_filesystem_*.",
    ),
    gauge(
        "warehouse_disk_info",
        "A block device under a warehouse's paths (its own, a partition's disk, a device-mapper slave); "
        "device as in node_disk_*.",
    ),
    gauge("warehouse_filesystem_size_bytes", "Filesystem size in bytes, for the filesystem holding the path."),
    gauge("warehouse_filesystem_free_bytes", "Filesystem free space in bytes."),
    gauge("warehouse_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes."),
    gauge("warehouse_filesystem_files", "Filesystem total file nodes."),
    gauge("warehouse_filesystem_files_free", "Filesystem total free file nodes."),
    gauge("warehouse_filesystem_readonly", "1 when the filesystem itself is read-only (not just the agent's view)."),
    gauge("warehouse_filesystem_device_error", "Whether the filesystem of the path could not be statted (1) or not."),
)

SCAN_METRICS = (
    gauge("warehouse_path_size_bytes", "Total apparent size of the regular files under the path."),
    gauge("warehouse_path_files", "Number of regular files under the path."),
    gauge(
        "warehouse_path_oldest_file_timestamp_seconds",
        "Modification time of the oldest file under the path, in seconds since the epoch.",
    ),
    gauge(
        "warehouse_path_newest_file_timestamp_seconds",
        "Modification time of the newest file under the path, in seconds since the epoch.",
    ),
    gauge("warehouse_scan_duration_seconds", "How long the last scan of the path took."),
    gauge("warehouse_scan_partial", "1 when the last scan ran out of its time budget and reported what it saw."),
    counter(
        "warehouse_scan_errors_total",
        "Errors met while scanning the path, by reason (permission_denied, vanished, timeout, io_error).",
    ),
)


def scan_runner_timeout(scan: ScanConfig) -> float:
    """The runner's timeout for a scan collector: a backstop just above the scan's own budget."""
    return float(scan.timeout) + SCAN_TIMEOUT_GRACE_SECONDS


class WarehouseDiskCollector:
    """Filesystem usage and the filesystem and block devices under each path of one warehouse."""

    def __init__(
        self,
        config: WarehouseConfig,
        *,
        procfs: str = "/proc",
        sysfs: str = "/sys",
        statvfs: Callable[[str], os.statvfs_result] = os.statvfs,
    ) -> None:
        self._config = config
        self._procfs = procfs
        self._sysfs = sysfs
        self._statvfs = statvfs
        self._failing: set[str] = set()  # paths whose statvfs failed last time, to log changes only

    @property
    def name(self) -> str:
        """The `collector` label: always `warehouse_disk`."""
        return "warehouse_disk"

    @property
    def instance(self) -> str:
        """The `instance` label: the warehouse's configured name."""
        return self._config.name

    def metrics(self) -> Sequence[MetricMeta]:
        """The disk families (DISK_METRICS)."""
        return DISK_METRICS

    def collect(self) -> Sequence[Sample]:
        """Stat each warehouse path, and report each block device under them once as an info series."""
        mounts = read_mountinfo(self._procfs)
        samples: list[Sample] = []
        disks: dict[str, None] = {}  # an ordered set: each device once per warehouse
        for path in self._config.paths:
            samples.extend(self._path_samples(path, mounts, disks))
        warehouse = self._config.name
        samples.extend(Sample("warehouse_disk_info", labels_of(warehouse=warehouse, device=d), 1.0) for d in disks)
        return samples

    def _path_samples(self, path: str, mounts: list[Mount], disks: dict[str, None]) -> list[Sample]:
        labels = labels_of(warehouse=self._config.name, path=path)
        real = os.path.realpath(path)
        try:
            st = self._statvfs(real)
        except OSError as exc:
            self._note_failure(path, exc)
            return [Sample("warehouse_filesystem_device_error", labels, 1.0)]
        self._note_success(path)
        mount = mount_of(real, mounts)
        readonly = mount.filesystem_readonly if mount is not None else bool(st.f_flag & os.ST_RDONLY)
        samples = _statvfs_samples(labels, st, readonly)
        if mount is not None:
            samples.append(self._path_info(path, mount))
            disks.update(dict.fromkeys(block_devices(mount, self._sysfs)))
        return samples

    def _path_info(self, path: str, mount: Mount) -> Sample:
        labels = labels_of(
            warehouse=self._config.name,
            path=path,
            mountpoint=mount.mountpoint_label,
            device=mount.source,
            fstype=mount.fstype,
        )
        return Sample("warehouse_path_info", labels, 1.0)

    def _note_failure(self, path: str, exc: OSError) -> None:
        if path not in self._failing:
            self._failing.add(path)
            log.warning("warehouse_path_unavailable", warehouse=self._config.name, path=path, error=str(exc))

    def _note_success(self, path: str) -> None:
        if path in self._failing:
            self._failing.discard(path)
            log.info("warehouse_path_available", warehouse=self._config.name, path=path)


def _statvfs_samples(labels: Labels, st: os.statvfs_result, readonly: bool) -> list[Sample]:
    # Block counts are in f_frsize units (POSIX, and what df multiplies by); node_exporter
    # uses f_bsize, which Linux reports equal to it on block-device filesystems.
    block = float(st.f_frsize)
    values = (
        ("warehouse_filesystem_size_bytes", st.f_blocks * block),
        ("warehouse_filesystem_free_bytes", st.f_bfree * block),
        ("warehouse_filesystem_avail_bytes", st.f_bavail * block),
        ("warehouse_filesystem_files", float(st.f_files)),
        ("warehouse_filesystem_files_free", float(st.f_ffree)),
        ("warehouse_filesystem_readonly", 1.0 if readonly else 0.0),
        ("warehouse_filesystem_device_error", 0.0),
    )
    return [Sample(name, labels, value) for name, value in values]


class WarehouseScanCollector:
    """Size, file count and data age under each path of one warehouse, from a bounded walk."""

    def __init__(self, config: WarehouseConfig, clock: Clock, *, list_dir: ListDir = os.scandir) -> None:
        self._config = config
        self._clock = clock
        self._list_dir = list_dir
        scan = config.scan
        self._options = WalkOptions(
            include=tuple(scan.include),
            exclude=tuple(scan.exclude),
            follow_symlinks=scan.follow_symlinks,
            cross_filesystems=scan.cross_filesystems,
        )
        # A counter lives as long as the collector; a scan abandoned by the runner may
        # still finish in its thread while the next one runs, hence the lock.
        self._errors: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._partial: set[str] = set()

    @property
    def name(self) -> str:
        """The `collector` label: always `warehouse_scan`."""
        return "warehouse_scan"

    @property
    def instance(self) -> str:
        """The `instance` label: the warehouse's configured name."""
        return self._config.name

    def metrics(self) -> Sequence[MetricMeta]:
        """The scan families (SCAN_METRICS)."""
        return SCAN_METRICS

    def collect(self) -> Sequence[Sample]:
        """Walk every path within one shared budget of `scan.timeout` seconds."""
        deadline = self._clock.monotonic() + float(self._config.scan.timeout)
        samples: list[Sample] = []
        for path in self._config.paths:
            started = self._clock.monotonic()
            totals = walk(path, self._options, deadline, self._clock.monotonic, self._list_dir)
            duration = self._clock.monotonic() - started
            self._record(path, totals)
            samples.extend(self._path_samples(path, totals, duration))
        return samples

    def _record(self, path: str, totals: PathTotals) -> None:
        with self._lock:
            for reason, count in totals.errors.items():
                self._errors[(path, reason)] += count
        if totals.partial and path not in self._partial:
            self._partial.add(path)
            log.warning("warehouse_scan_partial", warehouse=self._config.name, path=path, files_seen=totals.files)
        elif not totals.partial and path in self._partial:
            self._partial.discard(path)
            log.info("warehouse_scan_complete", warehouse=self._config.name, path=path, files_seen=totals.files)

    def _path_samples(self, path: str, totals: PathTotals, duration: float) -> list[Sample]:
        labels = labels_of(warehouse=self._config.name, path=path)
        samples = [
            Sample("warehouse_scan_duration_seconds", labels, duration),
            Sample("warehouse_scan_partial", labels, 1.0 if totals.partial else 0.0),
        ]
        if totals.root_found:  # a missing path has no size, rather than size 0
            samples.append(Sample("warehouse_path_size_bytes", labels, float(totals.size_bytes)))
            samples.append(Sample("warehouse_path_files", labels, float(totals.files)))
        if totals.oldest_mtime is not None and totals.newest_mtime is not None:
            samples.append(Sample("warehouse_path_oldest_file_timestamp_seconds", labels, totals.oldest_mtime))
            samples.append(Sample("warehouse_path_newest_file_timestamp_seconds", labels, totals.newest_mtime))
        with self._lock:
            samples.extend(
                Sample("warehouse_scan_errors_total", labels_of(labels, reason=r), float(self._errors[(path, r)]))
                for r in ERROR_REASONS
            )
        return samples
