"""The netclass families on a fake /sys/class/net written by the test, as node_exporter 1.5 reads them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.collect import host_netclass
from agent.collect.host import HostCollector
from agent.config.schema import HostConfig
from agent.model import Sample, labels_of

ETH0 = {
    "address": "02:fc:00:00:00:01",
    "broadcast": "ff:ff:ff:ff:ff:ff",
    "duplex": "full",
    "operstate": "up",
    "ifalias": "",
    "carrier": "1",
    "carrier_changes": "2",
    "flags": "0x1003",
    "ifindex": "4",
    "mtu": "1500",
    "speed": "10000",
    "tx_queue_len": "1000",
    "type": "1",
}


def write_interface(sysfs: Path, name: str, files: dict[str, str]) -> Path:
    directory = sysfs / "class" / "net" / name
    directory.mkdir(parents=True)
    for file, text in files.items():
        (directory / file).write_text(text + "\n")
    return directory


@pytest.fixture
def collect(tmp_path: Path) -> Iterator[Callable[..., list[Sample]]]:
    collectors: list[HostCollector] = []

    def run(**overrides: str) -> list[Sample]:
        config = HostConfig(
            procfs=str(tmp_path / "proc"), sysfs=str(tmp_path / "sys"), rootfs=str(tmp_path), **overrides
        )
        collectors.append(HostCollector(config))
        return [s for s in collectors[-1].collect() if s.name.startswith("node_network_")]

    yield run
    for collector in collectors:
        collector.close()


def by_name(samples: list[Sample]) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for sample in samples:
        out.setdefault(sample.name, {})[sample.labels] = sample.value
    return out


def test_interface_properties_under_node_exporters_names(collect: Callable[..., list[Sample]], tmp_path: Path) -> None:
    write_interface(tmp_path / "sys", "eth0", ETH0)

    series = by_name(collect())

    eth0 = labels_of(device="eth0")
    assert series["node_network_up"] == {eth0: 1.0}
    assert series["node_network_speed_bytes"] == {eth0: 1_250_000_000.0}
    assert series["node_network_mtu_bytes"] == {eth0: 1500.0}
    assert series["node_network_flags"] == {eth0: 4099.0}  # 0x1003, read as Go's ParseInt base 0 reads it
    assert series["node_network_carrier_changes_total"] == {eth0: 2.0}
    info = labels_of(
        device="eth0", address="02:fc:00:00:00:01", broadcast="ff:ff:ff:ff:ff:ff", duplex="full", operstate="up"
    )
    assert series["node_network_info"] == {info: 1.0}  # the empty ifalias is dropped, as Prometheus drops it


def test_a_property_the_interface_lacks_is_left_out(collect: Callable[..., list[Sample]], tmp_path: Path) -> None:
    write_interface(tmp_path / "sys", "lo", {"operstate": "unknown", "mtu": "65536"})

    series = by_name(collect())

    assert series["node_network_up"] == {labels_of(device="lo"): 0.0}
    assert "node_network_speed_bytes" not in series
    assert series["node_network_mtu_bytes"] == {labels_of(device="lo"): 65536.0}


def test_unknown_speed_is_negative_as_in_node_exporter(collect: Callable[..., list[Sample]], tmp_path: Path) -> None:
    write_interface(tmp_path / "sys", "eth0", {"speed": "-1"})

    assert by_name(collect())["node_network_speed_bytes"] == {labels_of(device="eth0"): -125000.0}


def test_ignored_devices(collect: Callable[..., list[Sample]], tmp_path: Path) -> None:
    write_interface(tmp_path / "sys", "eth0", ETH0)
    write_interface(tmp_path / "sys", "veth1", ETH0)

    series = by_name(collect(netclass_ignored_devices="^veth"))

    assert set(series["node_network_up"]) == {labels_of(device="eth0")}


def test_a_regular_file_in_class_net_is_not_an_interface(collect: Callable[..., list[Sample]], tmp_path: Path) -> None:
    write_interface(tmp_path / "sys", "eth0", ETH0)
    (tmp_path / "sys" / "class" / "net" / "bonding_masters").write_text("\n")

    assert set(by_name(collect())["node_network_up"]) == {labels_of(device="eth0")}


def test_no_sysfs_means_no_netclass_families(collect: Callable[..., list[Sample]]) -> None:
    assert collect() == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [("42", 42), ("-1", -1), ("0x1003", 4099), ("010", 8), ("0", 0), ("", None), ("up", None), ("1_0", None)],
)
def test_go_int(text: str, expected: int | None) -> None:
    assert host_netclass.go_int(text) == expected


def test_an_interface_gone_since_the_listing_reads_as_one_without_files(tmp_path: Path) -> None:
    assert {} == host_netclass.read_interface(tmp_path / "veth-gone")
