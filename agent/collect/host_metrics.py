"""The host collector's metric families, with node_exporter 1.5's names, types and help texts.

Families whose members are only known from the kernel (one per /proc/meminfo,
/proc/vmstat, /proc/net/sockstat or /proc/net/netstat field) are built by the functions
at the end.
"""

from __future__ import annotations

import re

from agent.collect import host_netclass
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

# The stat collector: /proc/stat line -> family.
STAT = {
    "intr": counter("node_intr_total", "Total number of interrupts serviced."),
    "ctxt": counter("node_context_switches_total", "Total number of context switches."),
    "processes": counter("node_forks_total", "Total number of forks."),
    "btime": gauge("node_boot_time_seconds", "Node boot time, in unixtime."),
    "procs_running": gauge("node_procs_running", "Number of processes in runnable state."),
    "procs_blocked": gauge("node_procs_blocked", "Number of processes blocked waiting for I/O to complete."),
}

UNAME_INFO = gauge("node_uname_info", "Labeled system information as provided by the uname system call.")

OS_INFO = gauge(
    "node_os_info",
    "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, "
    "name, pretty_name, variant, variant_id, version, version_codename, version_id.",
)
OS_VERSION = gauge("node_os_version", "Metric containing the major.minor part of the OS version.")

TIME_SECONDS = gauge("node_time_seconds", "System time in seconds since epoch (1970).")
TIME_ZONE_OFFSET = gauge("node_time_zone_offset_seconds", "System time zone offset in seconds.")
CLOCKSOURCE_AVAILABLE = gauge(
    "node_time_clocksource_available_info", "Available clocksources read from '/sys/devices/system/clocksource'."
)
CLOCKSOURCE_CURRENT = gauge(
    "node_time_clocksource_current_info", "Current clocksource read from '/sys/devices/system/clocksource'."
)

# The timex collector: one family per adjtimex(2) reading, as host_system names the readings.
TIMEX = {
    "sync_status": gauge("node_timex_sync_status", "Is clock synchronized to a reliable server (1 = yes, 0 = no)."),
    "offset": gauge("node_timex_offset_seconds", "Time offset in between local system and reference clock."),
    "freq": gauge("node_timex_frequency_adjustment_ratio", "Local clock frequency adjustment."),
    "maxerror": gauge("node_timex_maxerror_seconds", "Maximum error in seconds."),
    "esterror": gauge("node_timex_estimated_error_seconds", "Estimated error in seconds."),
    "status": gauge("node_timex_status", "Value of the status array bits."),
    "constant": gauge("node_timex_loop_time_constant", "Phase-locked loop time constant."),
    "tick": gauge("node_timex_tick_seconds", "Seconds between clock ticks."),
    "ppsfreq": gauge("node_timex_pps_frequency_hertz", "Pulse per second frequency."),
    "jitter": gauge("node_timex_pps_jitter_seconds", "Pulse per second jitter."),
    "shift": gauge("node_timex_pps_shift_seconds", "Pulse per second interval duration."),
    "stabil": gauge(
        "node_timex_pps_stability_hertz", "Pulse per second stability, average of recent frequency changes."
    ),
    "jitcnt": counter("node_timex_pps_jitter_total", "Pulse per second count of jitter limit exceeded events."),
    "calcnt": counter("node_timex_pps_calibration_total", "Pulse per second count of calibration intervals."),
    "errcnt": counter("node_timex_pps_error_total", "Pulse per second count of calibration errors."),
    "stbcnt": counter(
        "node_timex_pps_stability_exceeded_total", "Pulse per second count of stability limit exceeded events."
    ),
    "tai": gauge("node_timex_tai_offset_seconds", "International Atomic Time (TAI) offset."),
}

ENTROPY_AVAILABLE = gauge("node_entropy_available_bits", "Bits of available entropy.")
ENTROPY_POOL_SIZE = gauge("node_entropy_pool_size_bits", "Bits of entropy pool.")

# node_exporter's help texts have no full stop here.
SOFTNET = (
    counter("node_softnet_processed_total", "Number of processed packets"),
    counter("node_softnet_dropped_total", "Number of dropped packets"),
    counter("node_softnet_times_squeezed_total", "Number of times processing packets ran out of quota"),
)

SCHEDSTAT = (
    counter("node_schedstat_running_seconds_total", "Number of seconds CPU spent running a process."),
    counter("node_schedstat_waiting_seconds_total", "Number of seconds spent by processing waiting for this CPU."),
    counter("node_schedstat_timeslices_total", "Number of timeslices executed by CPU."),
)

ARP_ENTRIES = gauge("node_arp_entries", "ARP entries by device")

SOCKSTAT_USED = gauge("node_sockstat_sockets_used", "Number of IPv4 sockets in use.")

CONNTRACK_ENTRIES = gauge(
    "node_nf_conntrack_entries", "Number of currently allocated flow entries for connection tracking."
)
CONNTRACK_LIMIT = gauge("node_nf_conntrack_entries_limit", "Maximum size of connection tracking table.")
# /proc/net/stat/nf_conntrack column -> family; node_exporter 1.5 exports these sums as gauges.
CONNTRACK_STAT = {
    "found": gauge("node_nf_conntrack_stat_found", "Number of searched entries which were successful."),
    "invalid": gauge("node_nf_conntrack_stat_invalid", "Number of packets seen which can not be tracked."),
    "ignore": gauge(
        "node_nf_conntrack_stat_ignore", "Number of packets seen which are already connected to a conntrack entry."
    ),
    "insert": gauge("node_nf_conntrack_stat_insert", "Number of entries inserted into the list."),
    "insert_failed": gauge(
        "node_nf_conntrack_stat_insert_failed", "Number of entries for which list insertion was attempted but failed."
    ),
    "drop": gauge("node_nf_conntrack_stat_drop", "Number of packets dropped due to conntrack failure."),
    "early_drop": gauge(
        "node_nf_conntrack_stat_early_drop",
        "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
    ),
    "search_restart": gauge(
        "node_nf_conntrack_stat_search_restart",
        "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
    ),
}


def network_family(field: str) -> MetricMeta:
    """node_network_<field>_total for one /proc/net/dev column."""
    return counter(f"node_network_{field}_total", f"Network device statistic {field}.")


def memory_family(key: str) -> MetricMeta:
    """node_memory_<key> for one /proc/meminfo field (key already carries `_bytes` if it has a unit)."""
    return gauge(f"node_memory_{key}", f"Memory information field {key}.")


def vmstat_family(key: str) -> MetricMeta:
    """node_vmstat_<key>: node_exporter exports /proc/vmstat fields untyped."""
    return MetricMeta(f"node_vmstat_{key}", MetricType.UNTYPED, f"/proc/vmstat information field {key}.")


def sockstat_family(protocol: str, state: str) -> MetricMeta:
    """node_sockstat_<protocol>_<state> for one key of a /proc/net/sockstat{,6} line."""
    return gauge(f"node_sockstat_{protocol}_{state}", f"Number of {protocol} sockets in state {state}.")


def netstat_family(protocol: str, field: str) -> MetricMeta:
    """node_netstat_<protocol>_<field>: node_exporter exports these counters untyped."""
    return MetricMeta(f"node_netstat_{protocol}_{field}", MetricType.UNTYPED, f"Statistic {protocol}{field}.")


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
    host_netclass.UP,
    host_netclass.INFO,
    *host_netclass.FAMILIES.values(),
    FILEFD_ALLOCATED,
    FILEFD_MAXIMUM,
    *STAT.values(),
    UNAME_INFO,
    OS_INFO,
    OS_VERSION,
    TIME_SECONDS,
    TIME_ZONE_OFFSET,
    CLOCKSOURCE_AVAILABLE,
    CLOCKSOURCE_CURRENT,
    *TIMEX.values(),
    ENTROPY_AVAILABLE,
    ENTROPY_POOL_SIZE,
    *SOFTNET,
    *SCHEDSTAT,
    ARP_ENTRIES,
    SOCKSTAT_USED,
    CONNTRACK_ENTRIES,
    CONNTRACK_LIMIT,
    *CONNTRACK_STAT.values(),
)
