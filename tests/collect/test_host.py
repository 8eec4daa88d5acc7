"""HostCollector on a fixture /proc tree (tests/collect/fixtures/host/proc, copied from a real
machine; see test_host_procfs.py for the lines added by hand), with an injected stat function
in place of statfs. Expected values are worked out by hand from the fixture files.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from agent.collect.host import HostCollector
from agent.collect.host_fs import FsUsage
from agent.config.schema import Duration, FilesystemConfig, HostConfig
from agent.model import MetricType, Sample, labels_of

FIXTURE_PROC = Path(__file__).parent / "fixtures" / "host" / "proc"

# node_exporter 1.5.0's --collector.diskstats.device-exclude default (Debian's build agrees).
NODE_EXPORTER_1_5_DISK_EXCLUDE = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"

USAGE = FsUsage(size=1000.0, free=600.0, avail=500.0, files=100.0, files_free=70.0)


class RecordingStat:
    """statfs stand-in: the same usage for every path, recording the paths; some can hang."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.hanging: dict[str, threading.Event] = {}

    def __call__(self, path: str) -> FsUsage:
        self.paths.append(path)
        if path in self.hanging:
            self.hanging[path].wait()
        return USAGE


MakeCollector = Callable[..., HostCollector]


@pytest.fixture
def stat() -> Iterator[RecordingStat]:
    fake = RecordingStat()
    yield fake
    for event in fake.hanging.values():
        event.set()


@pytest.fixture
def make_collector(stat: RecordingStat) -> Iterator[MakeCollector]:
    """Build collectors over a /proc tree (the fixture by default); all are closed afterwards."""
    made: list[HostCollector] = []

    def make(
        procfs: Path = FIXTURE_PROC, rootfs: str = "/", sysfs: str = "/nonexistent", **overrides: Any
    ) -> HostCollector:
        config = HostConfig(procfs=str(procfs), sysfs=sysfs, rootfs=rootfs, **overrides)
        made.append(HostCollector(config, stat))
        return made[-1]

    yield make
    for collector in made:
        collector.close()


@pytest.fixture
def proc_copy(tmp_path: Path) -> Path:
    """A writable copy of the fixture /proc tree."""
    return Path(shutil.copytree(FIXTURE_PROC, tmp_path / "proc"))


def values(samples: Sequence[Sample], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {sample.labels: sample.value for sample in samples if sample.name == name}


def label_values(samples: Sequence[Sample], name: str, label: str) -> set[str]:
    return {dict(sample.labels)[label] for sample in samples if sample.name == name}


def test_identifies_itself_as_the_default_host_collector(make_collector: MakeCollector) -> None:
    collector = make_collector()

    assert (collector.name, collector.instance) == ("host", "default")


def test_cpu_seconds_per_cpu_and_mode(make_collector: MakeCollector) -> None:
    cpu = values(make_collector().collect(), "node_cpu_seconds_total")

    assert len(cpu) == 16
    assert cpu[labels_of(cpu="1", mode="user")] == pytest.approx(27.27)
    assert cpu[labels_of(cpu="1", mode="idle")] == pytest.approx(526.72)
    assert cpu[labels_of(cpu="1", mode="iowait")] == pytest.approx(3.22)


def test_cpu_guest_seconds_per_cpu_for_user_and_nice(make_collector: MakeCollector) -> None:
    guest = values(make_collector().collect(), "node_cpu_guest_seconds_total")

    assert set(guest) == {labels_of(cpu=c, mode=m) for c in ("0", "1") for m in ("user", "nice")}


def test_cpu_counter_going_backwards_keeps_its_previous_value(make_collector: MakeCollector, proc_copy: Path) -> None:
    (proc_copy / "stat").write_text("cpu0 1000 0 500 9000 300 0 0 0 0 0\n")
    collector = make_collector(proc_copy)
    collector.collect()
    (proc_copy / "stat").write_text("cpu0 1010 0 510 9100 250 0 0 0 0 0\n")

    cpu = values(collector.collect(), "node_cpu_seconds_total")

    assert cpu[labels_of(cpu="0", mode="iowait")] == 3.0
    assert cpu[labels_of(cpu="0", mode="user")] == 10.1


def test_cpu_idle_jumping_back_three_seconds_resets_the_counters(
    make_collector: MakeCollector, proc_copy: Path
) -> None:
    (proc_copy / "stat").write_text("cpu0 1000 0 500 9000 300 0 0 0 0 0\n")
    collector = make_collector(proc_copy)
    collector.collect()
    (proc_copy / "stat").write_text("cpu0 10 0 5 100 3 0 0 0 0 0\n")  # a hotplugged CPU starts over

    cpu = values(collector.collect(), "node_cpu_seconds_total")

    assert cpu[labels_of(cpu="0", mode="idle")] == 1.0
    assert cpu[labels_of(cpu="0", mode="iowait")] == 0.03


def test_load_averages(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()

    assert [values(samples, f"node_load{n}")[()] for n in (1, 5, 15)] == [0.0, 0.02, 0.0]


def test_memory_fields_in_bytes(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()

    assert values(samples, "node_memory_MemTotal_bytes")[()] == 24684092 * 1024
    assert values(samples, "node_memory_MemAvailable_bytes")[()] == 24292176 * 1024
    assert values(samples, "node_memory_Active_anon_bytes")[()] == 1560 * 1024
    assert values(samples, "node_memory_HugePages_Total")[()] == 0


def test_memory_reports_every_meminfo_field(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()

    assert len([s for s in samples if s.name.startswith("node_memory_")]) == 54


def test_vmstat_reports_node_exporters_default_fields(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()

    vmstat = {s.name for s in samples if s.name.startswith("node_vmstat_")}
    assert vmstat == {
        "node_vmstat_oom_kill",
        "node_vmstat_pgfault",
        "node_vmstat_pgmajfault",
        "node_vmstat_pgpgin",
        "node_vmstat_pgpgout",
        "node_vmstat_pswpin",
        "node_vmstat_pswpout",
    }


def test_vmstat_families_are_untyped_as_in_node_exporter(make_collector: MakeCollector) -> None:
    collector = make_collector()
    collector.collect()

    oom_kill = next(meta for meta in collector.metrics() if meta.name == "node_vmstat_oom_kill")
    assert oom_kill.type is MetricType.UNTYPED


def test_pressure_stall_seconds(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()

    pressure = {s.name: s.value for s in samples if s.name.startswith("node_pressure_")}
    assert pressure == pytest.approx(
        {
            "node_pressure_cpu_waiting_seconds_total": 4.408599,
            "node_pressure_io_waiting_seconds_total": 3.192166,
            "node_pressure_io_stalled_seconds_total": 3.09072,
            "node_pressure_memory_waiting_seconds_total": 0.0,
            "node_pressure_memory_stalled_seconds_total": 0.0,
        }
    )


def test_no_pressure_files_means_no_pressure_metrics_and_no_warning(
    make_collector: MakeCollector, proc_copy: Path
) -> None:
    shutil.rmtree(proc_copy / "pressure")

    with capture_logs() as logs:
        samples = make_collector(proc_copy).collect()

    assert not [s for s in samples if s.name.startswith("node_pressure_")]
    assert logs == []


def test_disks_excluded_as_node_exporter_excludes_them(make_collector: MakeCollector) -> None:
    samples = make_collector(diskstats_device_exclude=NODE_EXPORTER_1_5_DISK_EXCLUDE).collect()

    assert label_values(samples, "node_disk_reads_completed_total", "device") == {"vda", "zram0", "nvme0n1", "sda"}


def test_disk_counters_in_node_exporters_units(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()
    vda = labels_of(device="vda")

    assert values(samples, "node_disk_reads_completed_total")[vda] == 79470
    assert values(samples, "node_disk_read_bytes_total")[vda] == 3344210 * 512
    assert values(samples, "node_disk_read_time_seconds_total")[vda] == pytest.approx(11.085)
    assert values(samples, "node_disk_writes_completed_total")[vda] == 11117
    assert values(samples, "node_disk_written_bytes_total")[vda] == 1853096 * 512
    assert values(samples, "node_disk_write_time_seconds_total")[vda] == pytest.approx(5.255)
    assert values(samples, "node_disk_io_now")[vda] == 0
    assert values(samples, "node_disk_io_time_seconds_total")[vda] == pytest.approx(4.944)
    assert values(samples, "node_disk_io_time_weighted_seconds_total")[vda] == pytest.approx(16.531)
    assert values(samples, "node_disk_flush_requests_total")[vda] == 700


def test_disk_of_an_old_kernel_has_no_discard_or_flush_counters(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()

    sda = [s.name for s in samples if s.labels == labels_of(device="sda")]
    assert len(sda) == 11
    assert "node_disk_discards_completed_total" not in sda


def test_filesystems_excluded_by_mount_point_and_type(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()

    assert label_values(samples, "node_filesystem_device_error", "mountpoint") == {
        "/",
        "/data/lake one",
        "/mnt/nfs",
        "/mnt/sandboxing/model_tools_env/v1/python",
        "/run",
    }


def test_filesystem_listed_twice_is_reported_once(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()

    assert len([s for s in samples if s.name == "node_filesystem_size_bytes" and ("mountpoint", "/") in s.labels]) == 1


def test_filesystem_usage_comes_from_statfs(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()
    root = labels_of(device="/dev/vda", fstype="ext4", mountpoint="/")

    assert values(samples, "node_filesystem_size_bytes")[root] == 1000.0
    assert values(samples, "node_filesystem_free_bytes")[root] == 600.0
    assert values(samples, "node_filesystem_avail_bytes")[root] == 500.0
    assert values(samples, "node_filesystem_files")[root] == 100.0
    assert values(samples, "node_filesystem_files_free")[root] == 70.0
    assert values(samples, "node_filesystem_device_error")[root] == 0.0


def test_filesystem_readonly_follows_the_mount_options(make_collector: MakeCollector) -> None:
    readonly = values(make_collector().collect(), "node_filesystem_readonly")

    assert readonly[labels_of(device="/dev/vda", fstype="ext4", mountpoint="/")] == 0.0
    assert readonly[labels_of(device="/dev/nvme0n1p2", fstype="xfs", mountpoint="/data/lake one")] == 1.0


def test_stuck_mount_reports_only_a_device_error(make_collector: MakeCollector, stat: RecordingStat) -> None:
    stat.hanging["/mnt/nfs"] = threading.Event()
    collector = make_collector(filesystem=FilesystemConfig(mount_timeout=Duration(0.2)))

    started = time.monotonic()
    samples = collector.collect()

    assert time.monotonic() - started < 5.0  # the stat never returns: a bound this wide holds on a loaded machine
    nfs = labels_of(device="server:/export", fstype="nfs4", mountpoint="/mnt/nfs")
    assert [s for s in samples if s.labels == nfs] == [Sample("node_filesystem_device_error", nfs, 1.0)]


def test_mounts_are_statted_under_the_rootfs(make_collector: MakeCollector, stat: RecordingStat) -> None:
    make_collector(rootfs="/host/").collect()

    assert "/host/data/lake one" in stat.paths
    assert "/host" in stat.paths


def test_mount_points_under_the_rootfs_are_reported_as_the_host_sees_them(
    make_collector: MakeCollector, proc_copy: Path
) -> None:
    (proc_copy / "1" / "mounts").write_text(
        "/dev/vda /host ext4 rw 0 0\n/dev/vdb /host/data xfs rw 0 0\n/dev/vdc /hostile xfs rw 0 0\n"
    )

    samples = make_collector(proc_copy, rootfs="/host").collect()

    assert label_values(samples, "node_filesystem_size_bytes", "mountpoint") == {"/", "/data", "/hostile"}


def test_mounts_fall_back_to_proc_mounts_when_pid_1_is_hidden(make_collector: MakeCollector, proc_copy: Path) -> None:
    shutil.rmtree(proc_copy / "1")
    (proc_copy / "mounts").write_text("/dev/vdz /srv ext4 rw 0 0\n")

    samples = make_collector(proc_copy).collect()

    assert label_values(samples, "node_filesystem_size_bytes", "mountpoint") == {"/srv"}


def test_network_counters_per_device(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()
    eth0 = labels_of(device="eth0")

    assert values(samples, "node_network_receive_bytes_total")[eth0] == 156998394
    assert values(samples, "node_network_transmit_packets_total")[eth0] == 2903
    assert values(samples, "node_network_receive_drop_total")[eth0] == 0


def test_network_devices_all_reported_by_default_as_upstream_node_exporter_does(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()

    assert label_values(samples, "node_network_receive_errs_total", "device") == {"lo", "ifb0", "ifb1", "eth0"}


def test_network_devices_excluded_by_the_configured_pattern(make_collector: MakeCollector) -> None:
    samples = make_collector(netdev_device_exclude="^lo$").collect()

    assert label_values(samples, "node_network_receive_errs_total", "device") == {"ifb0", "ifb1", "eth0"}


def test_file_descriptors(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()

    assert (values(samples, "node_filefd_allocated")[()], values(samples, "node_filefd_maximum")[()]) == (562, 2466177)


def test_every_emitted_family_is_declared_once(make_collector: MakeCollector) -> None:
    collector = make_collector()
    samples = collector.collect()

    declared = [meta.name for meta in collector.metrics()]
    assert len(declared) == len(set(declared))
    assert {s.name for s in samples} <= set(declared)


def test_a_missing_source_leaves_the_others_reporting(make_collector: MakeCollector, proc_copy: Path) -> None:
    (proc_copy / "meminfo").unlink()

    samples = make_collector(proc_copy).collect()

    assert not [s for s in samples if s.name.startswith("node_memory_")]
    assert values(samples, "node_load5")[()] == 0.02


def test_a_failing_source_is_logged_once_and_its_recovery_once(make_collector: MakeCollector, proc_copy: Path) -> None:
    meminfo = (proc_copy / "meminfo").read_text()
    (proc_copy / "meminfo").unlink()
    collector = make_collector(proc_copy)

    with capture_logs() as logs:
        collector.collect()
        collector.collect()
        (proc_copy / "meminfo").write_text(meminfo)
        collector.collect()

    assert [(entry["event"], entry["source"]) for entry in logs] == [
        ("host_source_failed", "meminfo"),
        ("host_source_recovered", "meminfo"),
    ]


def test_stat_counters_and_boot_time(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()

    assert {name: values(samples, name)[()] for name in STAT_FAMILIES} == {
        "node_boot_time_seconds": 1795501282.0,
        "node_context_switches_total": 418627.0,
        "node_forks_total": 8791.0,
        "node_intr_total": 208281.0,
        "node_procs_running": 1.0,
        "node_procs_blocked": 0.0,
    }


STAT_FAMILIES = (
    "node_boot_time_seconds",
    "node_context_switches_total",
    "node_forks_total",
    "node_intr_total",
    "node_procs_running",
    "node_procs_blocked",
)


def test_proc_stat_is_read_once_a_run_for_cpu_and_stat(
    make_collector: MakeCollector, proc_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    os_open = os.open

    def recording(path: str, *args: Any, **kwargs: Any) -> int:
        reads.append(os.path.basename(path))
        return os_open(path, *args, **kwargs)

    collector = make_collector(proc_copy)
    monkeypatch.setattr(os, "open", recording)
    collector.collect()
    collector.collect()

    assert reads.count("stat") == 2


def test_uname_info_is_labelled_with_the_kernels_uname(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()

    (labels,) = values(samples, "node_uname_info")
    assert dict(labels)["nodename"] == os.uname().nodename
    assert dict(labels)["release"] == os.uname().release


def test_os_release_is_read_under_the_rootfs(make_collector: MakeCollector, tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "os-release").write_text('NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.18.4\n')

    samples = make_collector(rootfs=str(tmp_path)).collect()

    assert values(samples, "node_os_info") == {labels_of(name="Alpine Linux", id="alpine", version_id="3.18.4"): 1.0}
    assert values(samples, "node_os_version") == {labels_of(name="Alpine Linux", id="alpine"): 3.18}


def test_os_release_falls_back_to_usr_lib(make_collector: MakeCollector, tmp_path: Path) -> None:
    (tmp_path / "usr" / "lib").mkdir(parents=True)
    (tmp_path / "usr" / "lib" / "os-release").write_text("ID=arch\nNAME=Arch\n")

    samples = make_collector(rootfs=str(tmp_path)).collect()

    assert values(samples, "node_os_info") == {labels_of(name="Arch", id="arch"): 1.0}
    assert values(samples, "node_os_version") == {}  # no VERSION_ID, as node_exporter


def test_no_os_release_downs_only_the_os_family(make_collector: MakeCollector, tmp_path: Path) -> None:
    with capture_logs() as logs:
        samples = make_collector(rootfs=str(tmp_path)).collect()

    assert values(samples, "node_os_info") == {}
    assert values(samples, "node_load5")[()] == 0.02
    assert [(entry["event"], entry["source"]) for entry in logs] == [("host_source_failed", "os")]


def test_time_and_zone_offset(make_collector: MakeCollector) -> None:
    before = time.time()
    samples = make_collector().collect()
    after = time.time()

    assert before <= values(samples, "node_time_seconds")[()] <= after
    zone = time.localtime()
    assert values(samples, "node_time_zone_offset_seconds") == {labels_of(time_zone=zone.tm_zone): zone.tm_gmtoff}


def test_clocksources_from_sysfs_numbered_by_position(make_collector: MakeCollector, tmp_path: Path) -> None:
    for name, available, current in (("clocksource0", "tsc hpet acpi_pm", "tsc"), ("clocksource1", "hpet", "hpet")):
        device = tmp_path / "devices" / "system" / "clocksource" / name
        device.mkdir(parents=True)
        (device / "available_clocksource").write_text(available + " \n")
        (device / "current_clocksource").write_text(current + "\n")

    samples = make_collector(sysfs=str(tmp_path)).collect()

    assert set(values(samples, "node_time_clocksource_available_info")) == {
        labels_of(device="0", clocksource="tsc"),
        labels_of(device="0", clocksource="hpet"),
        labels_of(device="0", clocksource="acpi_pm"),
        labels_of(device="1", clocksource="hpet"),
    }
    assert set(values(samples, "node_time_clocksource_current_info")) == {
        labels_of(device="0", clocksource="tsc"),
        labels_of(device="1", clocksource="hpet"),
    }


def test_timex_families_from_adjtimex(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()

    assert values(samples, "node_timex_tick_seconds")[()] > 0
    assert values(samples, "node_timex_sync_status")[()] in (0.0, 1.0)
    assert len({s.name for s in samples if s.name.startswith("node_timex_")}) == 17


def test_sockstat_families_named_per_protocol_and_state(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()

    assert values(samples, "node_sockstat_sockets_used")[()] == 27
    assert values(samples, "node_sockstat_TCP_tw")[()] == 3
    assert values(samples, "node_sockstat_TCP_mem_bytes")[()] == 303 * os.sysconf("SC_PAGE_SIZE")
    assert values(samples, "node_sockstat_TCP6_inuse")[()] == 9
    assert values(samples, "node_sockstat_FRAG6_memory")[()] == 0


def test_sockstat_without_ipv6_reports_ipv4(make_collector: MakeCollector, proc_copy: Path) -> None:
    (proc_copy / "net" / "sockstat6").unlink()

    samples = make_collector(proc_copy).collect()

    assert values(samples, "node_sockstat_TCP_inuse")[()] == 3
    assert not [s for s in samples if s.name.startswith("node_sockstat_") and "6_" in s.name]


def test_netstat_reports_node_exporters_default_fields_untyped(make_collector: MakeCollector) -> None:
    collector = make_collector()
    samples = collector.collect()

    netstat = {s.name for s in samples if s.name.startswith("node_netstat_")}
    assert {"node_netstat_TcpExt_ListenOverflows", "node_netstat_Tcp_CurrEstab", "node_netstat_Ip6_InOctets"} < netstat
    assert "node_netstat_Tcp_MaxConn" not in netstat
    assert values(samples, "node_netstat_TcpExt_ListenOverflows")[()] == 784
    types = {meta.type for meta in collector.metrics() if meta.name.startswith("node_netstat_")}
    assert types == {MetricType.UNTYPED}


def test_netstat_fields_are_configurable(make_collector: MakeCollector) -> None:
    samples = make_collector(netstat_fields="^Tcp_MaxConn$").collect()

    assert {s.name: s.value for s in samples if s.name.startswith("node_netstat_")} == {"node_netstat_Tcp_MaxConn": -1}


def test_conntrack_entries_limit_and_summed_stats(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()

    assert values(samples, "node_nf_conntrack_entries")[()] == 1234
    assert values(samples, "node_nf_conntrack_entries_limit")[()] == 262144
    assert values(samples, "node_nf_conntrack_stat_found")[()] == 15


def test_no_conntrack_module_means_no_conntrack_metrics_and_no_warning(
    make_collector: MakeCollector, proc_copy: Path
) -> None:
    shutil.rmtree(proc_copy / "sys" / "net")

    with capture_logs() as logs:
        samples = make_collector(proc_copy).collect()

    assert not [s for s in samples if s.name.startswith("node_nf_conntrack")]
    assert logs == []


def test_missing_netstat_downs_only_netstat(make_collector: MakeCollector, proc_copy: Path) -> None:
    (proc_copy / "net" / "snmp").unlink()

    with capture_logs() as logs:
        samples = make_collector(proc_copy).collect()

    assert not [s for s in samples if s.name.startswith("node_netstat_")]
    assert values(samples, "node_sockstat_TCP_inuse")[()] == 3
    assert [(entry["event"], entry["source"]) for entry in logs] == [("host_source_failed", "netstat")]
    assert str(proc_copy / "net" / "snmp") in logs[0]["error"]


def test_entropy(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()

    assert values(samples, "node_entropy_available_bits")[()] == 256
    assert values(samples, "node_entropy_pool_size_bits")[()] == 256


def test_softnet_per_cpu_numbered_by_line(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()

    assert values(samples, "node_softnet_dropped_total") == {labels_of(cpu="0"): 0x6F, labels_of(cpu="1"): 0.0}
    assert values(samples, "node_softnet_times_squeezed_total")[labels_of(cpu="1")] == 5


def test_arp_entries_per_device(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()

    assert values(samples, "node_arp_entries") == {labels_of(device="eth0"): 2.0, labels_of(device="docker0"): 1.0}


def test_schedstat_per_cpu(make_collector: MakeCollector) -> None:
    samples = make_collector().collect()

    assert values(samples, "node_schedstat_timeslices_total") == {
        labels_of(cpu="0"): 16012873.0,
        labels_of(cpu="1"): 14287134.0,
    }


def test_no_schedstat_file_means_no_schedstat_metrics_and_no_warning(
    make_collector: MakeCollector, proc_copy: Path
) -> None:
    (proc_copy / "schedstat").unlink()

    with capture_logs() as logs:
        samples = make_collector(proc_copy).collect()

    assert not [s for s in samples if s.name.startswith("node_schedstat_")]
    assert logs == []
