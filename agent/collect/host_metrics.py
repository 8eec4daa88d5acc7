"""The host collector's metric families, with node_exporter 1.5's names, types and help texts.

Families whose members are only known from the kernel (one per /proc/meminfo or
/proc/vmstat field) are built by the functions at the end.
"""

from __future__ import annotations

import re

from agent.collect.procfs import NET_DEV_FIELDS
from agent.model import MetricMeta, MetricType, counter, gauge

# node_exporter's --collector.vmstat.fields default (not configurable here yet).
VMSTAT_FIELDS = re.compile(r"^(oom_kill|pgpg|pswp|pg.*fault).*")

CPU_SECONDS = counter("node_cpu_seconds_total", "Seconds the CPUs spent in each mode.")
CPU_GUEST_SECONDS = counter("node_cpu_guest_seconds_total", "Seconds the CPUs spent in guests (VMs) for each mode.")

LOAD = (
    gauge("node_load1", "1m load average."),
    gauge("node_load5", "5m load average."),
    gauge("node_load15", "15m load average."),
)

PRESSURE_CPU_WAITING = counter(
    "node_pressure_cpu_waiting_seconds_total", "Total time in seconds that processes have waited for CPU time"
)
# resource -> {line of the pressure file: family}
PRESSURE = {
    "cpu": {"some": PRESSURE_CPU_WAITING},
    "io": {
        "some": counter(
            "node_pressure_io_waiting_seconds_total",
            "Total time in seconds that processes have waited due to IO congestion",
        ),
        "full": counter(
            "node_pressure_io_stalled_seconds_total",
            "Total time in seconds no process could make progress due to IO congestion",
        ),
    },
    "memory": {
        "some": counter(
            "node_pressure_memory_waiting_seconds_total", "Total time in seconds that processes have waited for memory"
        ),
        "full": counter(
            "node_pressure_memory_stalled_seconds_total",
            "Total time in seconds no process could make progress due to memory congestion",
        ),
    },
}

_MS = 0.001
_SECTOR = 512.0

# One entry per /proc/diskstats field, in file order: the family and the factor to its unit.
DISK_FIELDS: tuple[tuple[MetricMeta, float], ...] = (
    (counter("node_disk_reads_completed_total", "The total number of reads completed successfully."), 1.0),
    (counter("node_disk_reads_merged_total", "The total number of reads merged."), 1.0),
    (counter("node_disk_read_bytes_total", "The total number of bytes read successfully."), _SECTOR),
    (counter("node_disk_read_time_seconds_total", "The total number of seconds spent by all reads."), _MS),
    (counter("node_disk_writes_completed_total", "The total number of writes completed successfully."), 1.0),
    (counter("node_disk_writes_merged_total", "The number of writes merged."), 1.0),
    (counter("node_disk_written_bytes_total", "The total number of bytes written successfully."), _SECTOR),
    (counter("node_disk_write_time_seconds_total", "This is the total number of seconds spent by all writes."), _MS),
    (gauge("node_disk_io_now", "The number of I/Os currently in progress."), 1.0),
    (counter("node_disk_io_time_seconds_total", "Total seconds spent doing I/Os."), _MS),
    (counter("node_disk_io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os."), _MS),
    (counter("node_disk_discards_completed_total", "The total number of discards completed successfully."), 1.0),
    (counter("node_disk_discards_merged_total", "The total number of discards merged."), 1.0),
    (counter("node_disk_discarded_sectors_total", "The total number of sectors discarded successfully."), 1.0),
    (
        counter("node_disk_discard_time_seconds_total", "This is the total number of seconds spent by all discards."),
        _MS,
    ),
    # node_exporter's help text has no full stop here.
    (counter("node_disk_flush_requests_total", "The total number of flush requests completed successfully"), 1.0),
    (
        counter(
            "node_disk_flush_requests_time_seconds_total",
            "This is the total number of seconds spent by all flush requests.",
        ),
        _MS,
    ),
)

FS_DEVICE_ERROR = gauge(
    "node_filesystem_device_error", "Whether an error occurred while getting statistics for the given device."
)
FS_READONLY = gauge("node_filesystem_readonly", "Filesystem read-only status.")
FS_SIZE = gauge("node_filesystem_size_bytes", "Filesystem size in bytes.")
FS_FREE = gauge("node_filesystem_free_bytes", "Filesystem free space in bytes.")
FS_AVAIL = gauge("node_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes.")
FS_FILES = gauge("node_filesystem_files", "Filesystem total file nodes.")
FS_FILES_FREE = gauge("node_filesystem_files_free", "Filesystem total free file nodes.")

FILEFD_ALLOCATED = gauge("node_filefd_allocated", "File descriptor statistics: allocated.")
FILEFD_MAXIMUM = gauge("node_filefd_maximum", "File descriptor statistics: maximum.")


def network_family(field: str) -> MetricMeta:
    """node_network_<field>_total for one /proc/net/dev column."""
    return counter(f"node_network_{field}_total", f"Network device statistic {field}.")


def memory_family(key: str) -> MetricMeta:
    """node_memory_<key> for one /proc/meminfo field (key already carries `_bytes` if it has a unit)."""
    return gauge(f"node_memory_{key}", f"Memory information field {key}.")


def vmstat_family(key: str) -> MetricMeta:
    """node_vmstat_<key>: node_exporter exports /proc/vmstat fields untyped."""
    return MetricMeta(f"node_vmstat_{key}", MetricType.UNTYPED, f"/proc/vmstat information field {key}.")


NETWORK = {field: network_family(field) for field in NET_DEV_FIELDS}

STATIC_FAMILIES: tuple[MetricMeta, ...] = (
    CPU_SECONDS,
    CPU_GUEST_SECONDS,
    *LOAD,
    *(meta for lines in PRESSURE.values() for meta in lines.values()),
    *(meta for meta, _ in DISK_FIELDS),
    FS_DEVICE_ERROR,
    FS_READONLY,
    FS_SIZE,
    FS_FREE,
    FS_AVAIL,
    FS_FILES,
    FS_FILES_FREE,
    *NETWORK.values(),
    FILEFD_ALLOCATED,
    FILEFD_MAXIMUM,
)
