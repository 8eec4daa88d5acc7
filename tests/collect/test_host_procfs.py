"""The /proc parsers, on text copied from a real machine's /proc (tests/collect/fixtures/host/proc).

Expected values are worked out by hand from the fixture files. The fixture diskstats and
1/mounts files have a few lines added by hand after the real ones (an nvme disk and
partition, an 11-field sda from an old kernel, a ram disk; an escaped mount point, an
NFS mount, a duplicate root mount) to exercise exclusions and formats.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.collect import procfs

PROC = Path(__file__).parent / "fixtures" / "host" / "proc"


def read(*parts: str) -> str:
    return PROC.joinpath(*parts).read_text()


def test_stat_gives_seconds_per_cpu_and_mode() -> None:
    cpus = procfs.parse_stat_cpus(read("stat"))

    assert list(cpus) == ["0", "1"]
    assert cpus["0"].modes == pytest.approx(
        {
            "user": 9.79,
            "nice": 0.0,
            "system": 7.71,
            "idle": 554.10,
            "iowait": 0.24,
            "irq": 0.0,
            "softirq": 0.14,
            "steal": 0.03,
        }
    )


def test_stat_gives_guest_seconds_separately() -> None:
    cpus = procfs.parse_stat_cpus("cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 100 0 0 0 0 0 0 0 250 50\n")

    assert cpus["0"].guest == {"user": 2.5, "nice": 0.5}


def test_stat_of_an_old_kernel_without_steal_and_guest_reads_them_as_zero() -> None:
    cpus = procfs.parse_stat_cpus("cpu0 100 0 200 300 0 0 0\n")

    assert cpus["0"].modes["steal"] == 0.0
    assert cpus["0"].guest == {"user": 0.0, "nice": 0.0}


def test_loadavg() -> None:
    assert procfs.parse_loadavg(read("loadavg")) == (0.0, 0.02, 0.0)


def test_meminfo_converts_kilobytes_and_names_fields_as_node_exporter() -> None:
    fields = procfs.parse_meminfo(read("meminfo"))

    assert fields["MemTotal_bytes"] == 24684092 * 1024
    assert fields["MemAvailable_bytes"] == 24292176 * 1024
    assert fields["MemFree_bytes"] == 24018468 * 1024
    assert fields["Buffers_bytes"] == 217648 * 1024
    assert fields["Cached_bytes"] == 204760 * 1024
    assert 0 == fields["SwapTotal_bytes"] == fields["SwapFree_bytes"]


def test_meminfo_turns_parentheses_into_an_underscore() -> None:
    fields = procfs.parse_meminfo(read("meminfo"))

    assert fields["Active_anon_bytes"] == 1560 * 1024
    assert fields["Inactive_file_bytes"] == 79216 * 1024


def test_meminfo_fields_without_a_unit_keep_their_name_and_value() -> None:
    assert procfs.parse_meminfo("HugePages_Total:       3\n") == {"HugePages_Total": 3.0}


def test_meminfo_reads_every_line() -> None:
    assert len(procfs.parse_meminfo(read("meminfo"))) == 54


def test_vmstat_keeps_only_the_fields_the_pattern_selects() -> None:
    fields = procfs.parse_vmstat(read("vmstat"), re.compile(r"^(oom_kill|pgpg|pswp|pg.*fault).*"))

    assert fields == {
        "pgpgin": 1672105.0,
        "pgpgout": 926548.0,
        "pswpin": 0.0,
        "pswpout": 0.0,
        "pgfault": 2497896.0,
        "pgmajfault": 1200.0,
        "oom_kill": 0.0,
    }


def test_pressure_totals_are_seconds() -> None:
    assert procfs.parse_pressure(read("pressure", "io")) == pytest.approx({"some": 3.192166, "full": 3.09072})


def test_pressure_without_a_full_line_has_only_some() -> None:
    text = "some avg10=0.00 avg60=0.00 avg300=0.00 total=1500000\n"

    assert procfs.parse_pressure(text) == {"some": 1.5}


def test_diskstats_keeps_every_field_after_the_name() -> None:
    disks = {disk.device: disk.fields for disk in procfs.parse_diskstats(read("diskstats"))}

    assert (disks["vda"]) == (
        79470,
        24702,
        3344210,
        11085,
        11117,
        21695,
        1853096,
        5255,
        0,
        4944,
        16531,
        3726,
        77,
        236184,
        171,
        700,
        19,
    )


def test_diskstats_of_an_old_kernel_has_eleven_fields() -> None:
    disks = {disk.device: disk.fields for disk in procfs.parse_diskstats(read("diskstats"))}

    assert len(disks["sda"]) == 11


def test_net_dev_names_the_sixteen_columns() -> None:
    devices = procfs.parse_net_dev(read("net", "dev"))

    assert list(devices) == ["lo", "ifb0", "ifb1", "eth0"]
    assert devices["eth0"]["receive_bytes"] == 156998394
    assert devices["eth0"]["receive_packets"] == 4550
    assert devices["eth0"]["transmit_bytes"] == 297485
    assert devices["eth0"]["transmit_packets"] == 2903
    assert len(devices["eth0"]) == 16


def test_net_dev_maps_each_column_to_its_name() -> None:
    line = "  eth1: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"

    stats = procfs.parse_net_dev("header\nheader\n" + line)["eth1"]

    assert list(range(1, 17)) == [stats[name] for name in procfs.NET_DEV_FIELDS]


def test_mounts_gives_device_mountpoint_fstype_and_options() -> None:
    mounts = procfs.parse_mounts(read("1", "mounts"))

    root = next(mount for mount in mounts if mount.mountpoint == "/")
    assert (root.device, root.fstype) == ("/dev/vda", "ext4")
    assert "discard" in root.options


def test_mounts_decode_escaped_spaces() -> None:
    mounts = procfs.parse_mounts(read("1", "mounts"))

    assert "/data/lake one" in [mount.mountpoint for mount in mounts]


def test_mount_is_readonly_when_its_options_say_ro() -> None:
    mounts = procfs.parse_mounts("a /x xfs ro,relatime 0 0\nb /y xfs rw,nosuid 0 0\nc /z xfs rw,errors=ro 0 0\n")

    assert [mount.readonly for mount in mounts] == [True, False, False]


def test_file_nr_gives_allocated_and_maximum() -> None:
    assert procfs.parse_file_nr(read("sys", "fs", "file-nr")) == (562.0, 2466177.0)


def test_stat_counters_take_the_first_number_of_their_lines() -> None:
    counters = procfs.parse_stat_counters(read("stat"))

    assert counters == {
        "intr": 208281.0,
        "ctxt": 418627.0,
        "btime": 1795501282.0,
        "processes": 8791.0,
        "procs_running": 1.0,
        "procs_blocked": 0.0,
    }


def test_sockstat_gives_sockets_used_and_each_protocols_pairs_in_order() -> None:
    used, protocols = procfs.parse_sockstat(read("net", "sockstat"))

    assert used == 27
    assert protocols[0] == procfs.SockstatProtocol(
        "TCP", (("inuse", 3), ("orphan", 0), ("tw", 3), ("alloc", 12), ("mem", 303))
    )
    assert [p.protocol for p in protocols] == ["TCP", "UDP", "UDPLITE", "RAW", "FRAG"]


def test_sockstat6_has_no_sockets_line() -> None:
    used, protocols = procfs.parse_sockstat(read("net", "sockstat6"))

    assert used is None
    assert protocols[0] == procfs.SockstatProtocol("TCP6", (("inuse", 9),))


def test_sockstat_line_with_a_key_and_no_value_is_refused() -> None:
    with pytest.raises(ValueError, match="malformed sockstat line"):
        procfs.parse_sockstat("TCP: inuse 3 orphan\n")


def test_netstat_pairs_each_header_line_with_its_values() -> None:
    stats = procfs.parse_netstat(read("net", "netstat"))

    assert stats["TcpExt"]["ListenOverflows"] == "784"
    assert stats["TcpExt"]["SyncookiesSent"] == "0"
    assert set(stats) == {"TcpExt", "IpExt", "MPTcpExt"}


def test_snmp_keeps_negative_values_as_text() -> None:
    stats = procfs.parse_netstat(read("net", "snmp"))

    assert stats["Tcp"]["MaxConn"] == "-1"
    assert stats["Ip"]["Forwarding"] == "2"


def test_netstat_with_a_value_missing_is_refused() -> None:
    with pytest.raises(ValueError, match="Tcp"):
        procfs.parse_netstat("Tcp: InSegs OutSegs\nTcp: 1\n")


def test_snmp6_splits_protocol_and_field_after_the_six() -> None:
    stats = procfs.parse_snmp6(read("net", "snmp6"))

    assert stats["Ip6"]["InOctets"] == "24580"
    assert stats["Icmp6"]["InMsgs"] == "5"
    assert stats["Udp6"]["InDatagrams"] == "0"


def test_conntrack_stat_sums_each_column_over_cpus_from_hex() -> None:
    totals = procfs.parse_conntrack_stat(read("net", "stat", "nf_conntrack"))

    assert totals["found"] == 15.0  # 0xa + 0x5
    assert totals["search_restart"] == 255.0
    assert totals["drop"] == 0.0


def test_uint_file() -> None:
    assert procfs.parse_uint(read("sys", "net", "netfilter", "nf_conntrack_max")) == 262144.0


def test_softnet_gives_processed_dropped_and_squeezed_per_line_from_hex() -> None:
    stats = procfs.parse_softnet(read("net", "softnet_stat"))

    assert stats == [(0x00D1EA34, 0x6F, 0x2), (0x00C4000B, 0x0, 0x5)]


def test_softnet_line_with_too_few_columns_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 9"):
        procfs.parse_softnet("00000001 00000000 00000000\n")


def test_arp_counts_entries_per_device() -> None:
    assert procfs.parse_arp(read("net", "arp")) == {"eth0": 2.0, "docker0": 1.0}


def test_schedstat_gives_running_and_waiting_seconds_and_timeslices_per_cpu() -> None:
    cpus = procfs.parse_schedstat(read("schedstat"))

    assert cpus == {
        "0": (1144.47246199, 54.238733463, 16012873.0),
        "1": (997.236384466, 44.981622358, 14287134.0),
    }
