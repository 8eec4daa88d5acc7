"""HostCollector against Debian's node_exporter 1.5 on this machine: same families, help,
types, label values, and values.

node_exporter runs with only the collectors HostCollector replaces, reading /proc/net/dev
(`--no-collector.netdev.netlink`, since HostCollector parses that file and node_exporter
1.5 defaults to netlink), and with the exclusion regexes of HostConfig's defaults passed
explicitly (tests/node_exporter_peer.py): this test compares what is read, not which
defaults each side has. tests/collect/test_host.py checks the defaults.

Counters are bracketed rather than compared with a tolerance: HostCollector reads before
and after the scrape, so node_exporter's value must lie between its two readings
(node_time_seconds too). Gauges that move are compared within the bounds in CLOSE: the
timex offset within 5 ms, the frequency adjustment within 1 ppm and the maximum error
within 1 s (it grows 500 us a second and drops when NTP updates the clock).

node_exporter prints labels with empty values (node_os_info's id_like=""); Prometheus drops
them when it ingests a scrape, and so does the agent: the comparison drops them too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.collect.host import HostCollector
from agent.config.schema import HostConfig
from agent.model import Labels, MetricMeta, MetricType, Sample
from tests.node_exporter_peer import running_node_exporter

Series = dict[Labels, float]


@dataclass(frozen=True)
class Scrape:
    """node_exporter's answer: samples by name and label set, families by name."""

    series: dict[str, Series]
    families: dict[str, tuple[str, str]]  # family name as the parser gives it -> (type, help)


@pytest.fixture
def node_exporter(tmp_path: Path) -> Iterator[str]:
    """The /metrics URL of a node_exporter reading this host, started for this test."""
    with running_node_exporter(tmp_path, HostConfig()) as address:
        yield f"http://{address}/metrics"


def scrape(url: str) -> Scrape:
    series: dict[str, Series] = {}
    families: dict[str, tuple[str, str]] = {}
    for family in text_string_to_metric_families(httpx.get(url, timeout=10.0).text):
        families[family.name] = (family.type, family.documentation)
        for sample in family.samples:
            labels = tuple(sorted((name, value) for name, value in sample.labels.items() if value != ""))
            series.setdefault(sample.name, {})[labels] = sample.value
    return Scrape(series, families)


def by_name(samples: Sequence[Sample]) -> dict[str, Series]:
    out: dict[str, Series] = {}
    for sample in samples:
        out.setdefault(sample.name, {})[sample.labels] = sample.value
    return out


@dataclass(frozen=True)
class Readings:
    before: dict[str, Series]
    node_exporter: Scrape
    after: dict[str, Series]
    declared: Sequence[MetricMeta]


@pytest.fixture
def readings(node_exporter: str) -> Iterator[Readings]:
    """HostCollector, node_exporter and HostCollector again, back to back."""
    collector = HostCollector(HostConfig())
    try:
        before = by_name(collector.collect())
        theirs = scrape(node_exporter)
        after = by_name(collector.collect())
        yield Readings(before, theirs, after, collector.metrics())
    finally:
        collector.close()


COUNTERS = (
    "node_cpu_seconds_total",
    "node_cpu_guest_seconds_total",
    "node_pressure_cpu_waiting_seconds_total",
    "node_pressure_io_waiting_seconds_total",
    "node_pressure_io_stalled_seconds_total",
    "node_pressure_memory_waiting_seconds_total",
    "node_pressure_memory_stalled_seconds_total",
    "node_vmstat_oom_kill",
    "node_vmstat_pgfault",
    "node_vmstat_pgmajfault",
    "node_disk_reads_completed_total",
    "node_disk_writes_completed_total",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_disk_read_time_seconds_total",
    "node_disk_write_time_seconds_total",
    "node_disk_io_time_seconds_total",
    "node_disk_io_time_weighted_seconds_total",
    *(
        f"node_network_{direction}_{stat}_total"
        for direction in ("receive", "transmit")
        for stat in ("bytes", "packets", "errs", "drop")
    ),
    "node_intr_total",
    "node_context_switches_total",
    "node_forks_total",
    "node_time_seconds",  # the same clock on both sides: bracketed like a counter
    "node_netstat_Tcp_ActiveOpens",
    "node_netstat_Tcp_PassiveOpens",
    "node_netstat_Tcp_InSegs",
    "node_netstat_Tcp_OutSegs",
    "node_netstat_Tcp_OutRsts",
    "node_netstat_IpExt_InOctets",
    "node_netstat_IpExt_OutOctets",
    "node_netstat_TcpExt_ListenDrops",
    "node_netstat_Udp_InDatagrams",
    "node_netstat_Icmp_InMsgs",
    "node_timex_pps_calibration_total",
    "node_network_carrier_changes_total",
    "node_softnet_processed_total",
    "node_softnet_dropped_total",
    "node_softnet_times_squeezed_total",
)
EXACT = (
    "node_memory_MemTotal_bytes",
    "node_memory_SwapTotal_bytes",
    "node_filesystem_size_bytes",
    "node_filesystem_files",
    "node_filesystem_readonly",
    "node_filesystem_device_error",
    "node_filefd_maximum",
    "node_boot_time_seconds",
    "node_uname_info",
    "node_os_info",
    "node_os_version",
    "node_time_zone_offset_seconds",
    "node_time_clocksource_available_info",
    "node_time_clocksource_current_info",
    "node_timex_sync_status",
    "node_timex_status",
    "node_timex_tick_seconds",
    "node_timex_loop_time_constant",
    "node_timex_tai_offset_seconds",
    "node_timex_pps_frequency_hertz",
    "node_timex_pps_shift_seconds",
    "node_nf_conntrack_entries_limit",
    "node_netstat_Ip_Forwarding",
    "node_network_up",
    "node_network_info",
    "node_network_speed_bytes",
    "node_network_mtu_bytes",
    "node_network_flags",
    "node_network_carrier",
    "node_network_iface_id",
    "node_network_protocol_type",
    "node_network_transmit_queue_length",
    "node_entropy_pool_size_bits",
)
# Gauges that move between two reads: (absolute tolerance, relative tolerance).
CLOSE = {
    "node_load1": (1.0, 0.0),
    "node_load5": (1.0, 0.0),
    "node_load15": (1.0, 0.0),
    "node_memory_MemFree_bytes": (256 * 2**20, 0.05),
    "node_memory_MemAvailable_bytes": (256 * 2**20, 0.05),
    "node_memory_Buffers_bytes": (256 * 2**20, 0.05),
    "node_memory_Cached_bytes": (256 * 2**20, 0.05),
    "node_memory_SwapFree_bytes": (256 * 2**20, 0.05),
    # other test runs share the disks
    "node_filesystem_free_bytes": (256 * 2**20, 0.01),
    "node_filesystem_avail_bytes": (256 * 2**20, 0.01),
    "node_filesystem_files_free": (10_000, 0.01),
    "node_disk_io_now": (64, 0.0),
    "node_filefd_allocated": (2_000, 0.1),
    "node_procs_running": (20, 0.0),
    "node_procs_blocked": (20, 0.0),
    "node_timex_offset_seconds": (0.005, 0.0),
    "node_timex_frequency_adjustment_ratio": (1e-6, 0.0),
    "node_timex_maxerror_seconds": (1.0, 0.0),
    "node_timex_estimated_error_seconds": (1.0, 0.0),
    "node_sockstat_sockets_used": (500, 0.0),
    "node_sockstat_TCP_inuse": (500, 0.0),
    "node_sockstat_TCP_tw": (2_000, 0.0),
    "node_sockstat_TCP_alloc": (500, 0.0),
    "node_sockstat_TCP_mem_bytes": (64 * 2**20, 0.0),
    "node_sockstat_UDP_inuse": (100, 0.0),
    "node_netstat_Tcp_CurrEstab": (500, 0.0),
    "node_nf_conntrack_entries": (2_000, 0.0),
    "node_entropy_available_bits": (4096, 0.0),  # 256 on kernels since 5.18, moving before
    "node_arp_entries": (10, 0.0),
}
LABELLED = {
    "node_cpu_seconds_total": ("cpu", "mode"),
    "node_disk_reads_completed_total": ("device",),
    "node_network_receive_bytes_total": ("device",),
    "node_filesystem_size_bytes": ("device", "fstype", "mountpoint"),
    "node_filesystem_device_error": ("device", "fstype", "mountpoint"),
    "node_uname_info": ("domainname", "machine", "nodename", "release", "sysname", "version"),
    "node_time_zone_offset_seconds": ("time_zone",),
    "node_time_clocksource_available_info": ("clocksource", "device"),
    "node_network_up": ("device",),
    "node_network_mtu_bytes": ("device",),
    "node_softnet_processed_total": ("cpu",),
    "node_arp_entries": ("device",),
}
# iowait can go backwards by a few ticks; both sides clamp it, but each from its own first read.
CPU_SLACK_SECONDS = 0.1


@pytest.mark.parametrize("name", list(LABELLED))
def test_same_label_values(readings: Readings, name: str) -> None:
    ours = readings.after[name]
    theirs = readings.node_exporter.series[name]

    assert set(ours) == set(theirs)
    assert {tuple(label for label, _ in labels) for labels in ours} == {LABELLED[name]}


@pytest.mark.parametrize("name", EXACT)
def test_same_values_where_they_cannot_drift(readings: Readings, name: str) -> None:
    assert readings.after[name] == readings.node_exporter.series[name]


@pytest.mark.parametrize("name", COUNTERS)
def test_counters_of_node_exporter_lie_between_two_reads_of_ours(readings: Readings, name: str) -> None:
    theirs = readings.node_exporter.series[name]
    slack = CPU_SLACK_SECONDS if name.startswith("node_cpu_") else 0.0

    assert set(readings.before[name]) == set(theirs) == set(readings.after[name])
    outside = {
        labels: (readings.before[name][labels], value, readings.after[name][labels])
        for labels, value in theirs.items()
        if not readings.before[name][labels] - slack <= value <= readings.after[name][labels] + slack
    }
    assert outside == {}


@pytest.mark.parametrize("name", list(CLOSE))
def test_gauges_are_close(readings: Readings, name: str) -> None:
    absolute, relative = CLOSE[name]
    theirs = readings.node_exporter.series[name]

    assert readings.after[name] == pytest.approx(theirs, abs=absolute, rel=relative)


def test_same_memory_fields(readings: Readings) -> None:
    assert _names(readings.after, "node_memory_") == _names(readings.node_exporter.series, "node_memory_")


def test_same_vmstat_fields(readings: Readings) -> None:
    assert _names(readings.after, "node_vmstat_") == _names(readings.node_exporter.series, "node_vmstat_")


@pytest.mark.parametrize(
    "prefix",
    [
        "node_sockstat_",
        "node_netstat_",
        "node_timex_",
        "node_nf_conntrack_",
        "node_schedstat_",
        "node_softnet_",
        "node_arp_",
    ],
)
def test_same_fields_of_the_families_read_from_the_kernel(readings: Readings, prefix: str) -> None:
    assert _names(readings.after, prefix) == _names(readings.node_exporter.series, prefix)


def test_same_help_and_type_for_every_family_both_report(readings: Readings) -> None:
    theirs = readings.node_exporter.families
    ours = {_parser_name(meta): (_parser_type(meta), meta.help) for meta in readings.declared}

    both = ours.keys() & theirs.keys()
    assert {name: ours[name] for name in both} == {name: theirs[name] for name in both}
    assert len(both) > 100


def test_every_family_node_exporter_reports_here_is_declared(readings: Readings) -> None:
    prefixes = tuple(f"node_{name}" for name in ("cpu_", "load", "memory_", "vmstat_", "pressure_", "disk_"))
    prefixes += tuple(f"node_{name}" for name in ("filesystem_", "network_", "filefd_", "sockstat_", "netstat_"))
    prefixes += tuple(f"node_{name}" for name in ("time", "uname_", "os_", "nf_conntrack_", "boot_time", "procs_"))
    prefixes += ("node_intr_total", "node_context_switches_total", "node_forks_total")
    prefixes += ("node_entropy_", "node_softnet_", "node_arp_", "node_schedstat_")
    # node_disk_info needs udev's database, which HostCollector does not read.
    theirs = {name for name in readings.node_exporter.families if name.startswith(prefixes)} - {"node_disk_info"}

    assert theirs - {_parser_name(meta) for meta in readings.declared} == set()


def _names(series: dict[str, Series], prefix: str) -> set[str]:
    return {name for name in series if name.startswith(prefix)}


def _parser_name(meta: MetricMeta) -> str:
    # prometheus_client's parser names a counter family without its `_total`.
    return meta.name.removesuffix("_total") if meta.type is MetricType.COUNTER else meta.name


def _parser_type(meta: MetricMeta) -> str:
    return "unknown" if meta.type is MetricType.UNTYPED else meta.type.value
