"""The warehouse disk collector: statvfs numbers, and info metrics that join to node_exporter's."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from agent.collect.warehouse import DISK_METRICS, WarehouseDiskCollector
from agent.config.schema import WarehouseConfig
from agent.model import Sample, labels_of
from tests.collect.test_warehouse_mounts import diskstats_names, make_sysfs
from tests.faults.fullfs import small_filesystem


def values(samples: Sequence[Sample], path: str) -> dict[str, float]:
    wanted = labels_of(warehouse="lake", path=path)
    return {s.name: s.value for s in samples if s.labels == wanted}


def info(samples: Sequence[Sample], name: str) -> list[dict[str, str]]:
    return [dict(s.labels) for s in samples if s.name == name]


def fixture_procfs(tmp_path: Path, mountinfo: str) -> str:
    (tmp_path / "proc" / "self").mkdir(parents=True)
    (tmp_path / "proc" / "self" / "mountinfo").write_text(mountinfo)
    return str(tmp_path / "proc")


def collector(
    *paths: Path | str,
    procfs: str = "/proc",
    sysfs: str = "/sys",
    statvfs: Callable[[str], os.statvfs_result] = os.statvfs,
) -> WarehouseDiskCollector:
    config = WarehouseConfig(name="lake", paths=[str(p) for p in paths])
    return WarehouseDiskCollector(config, procfs=procfs, sysfs=sysfs, statvfs=statvfs)


# --- this machine: the numbers are os.statvfs's and df's -----------------------------------


def df_bytes(path: Path) -> list[int]:
    out = subprocess.run(
        ["df", "-B1", "--output=size,used,avail,itotal,iavail", str(path)], check=True, capture_output=True, text=True
    ).stdout
    return [int(v) for v in out.splitlines()[1].split()]


def test_filesystem_numbers_equal_df(tmp_path: Path) -> None:
    # A tmpfs of its own: on the shared /tmp, parallel tests (brokers, daemons) change the numbers
    # between df and the collector.
    with small_filesystem(tmp_path / "lake") as fs:
        (fs.path / "part-0.parquet").write_bytes(b"\0" * 100_000)
        df = df_bytes(fs.path)
        got = values(collector(fs.path).collect(), str(fs.path))
    size, free, avail = (got[f"warehouse_filesystem_{k}_bytes"] for k in ("size", "free", "avail"))
    collected = [size, size - free, avail, got["warehouse_filesystem_files"], got["warehouse_filesystem_files_free"]]
    assert df == collected


def test_filesystem_numbers_equal_os_statvfs(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "lake") as fs:
        (fs.path / "part-0.parquet").write_bytes(b"\0" * 100_000)
        st = os.statvfs(fs.path)
        got = values(collector(fs.path).collect(), str(fs.path))
    expected = {
        "warehouse_filesystem_size_bytes": st.f_blocks * st.f_frsize,
        "warehouse_filesystem_free_bytes": st.f_bfree * st.f_frsize,
        "warehouse_filesystem_avail_bytes": st.f_bavail * st.f_frsize,
        "warehouse_filesystem_files": st.f_files,
        "warehouse_filesystem_files_free": st.f_ffree,
        "warehouse_filesystem_readonly": 0,
        "warehouse_filesystem_device_error": 0,
    }
    assert expected == got


def test_path_info_labels_are_what_df_reports(tmp_path: Path) -> None:
    out = subprocess.run(
        ["df", "--output=source,target,fstype", str(tmp_path)], check=True, capture_output=True, text=True
    ).stdout
    source, target, fstype = out.splitlines()[1].split()
    expected = {"warehouse": "lake", "path": str(tmp_path), "device": source, "mountpoint": target, "fstype": fstype}
    assert [expected] == info(collector(tmp_path).collect(), "warehouse_path_info")


def test_disk_info_names_the_diskstats_device_of_the_path(tmp_path: Path) -> None:
    st_dev = os.stat(tmp_path).st_dev
    own = diskstats_names().get((os.major(st_dev), os.minor(st_dev)))
    devices = [d["device"] for d in info(collector(tmp_path).collect(), "warehouse_disk_info")]
    assert own == (devices[0] if devices else None)


# --- fixture procfs and sysfs: LVM, bind mounts, escapes ----------------------------------


def test_path_info_and_disk_info_for_an_lvm_volume_and_a_bind_mount_with_a_space(tmp_path: Path) -> None:
    lake, mirror = tmp_path / "lake", tmp_path / "lake mirror"
    lake.mkdir()
    mirror.mkdir()
    escaped_mirror = str(mirror).replace(" ", "\\040")
    procfs = fixture_procfs(
        tmp_path,
        (
            "22 1 8:17 / / rw - ext4 /dev/sdb1 rw\n"
            f"40 22 253:3 / {lake} rw - xfs /dev/mapper/vg-lake rw\n"
            f"41 22 253:3 /exports {escaped_mirror} rw - xfs /dev/mapper/vg-lake rw\n"
        ),
    )
    samples = collector(lake, mirror, procfs=procfs, sysfs=str(make_sysfs(tmp_path))).collect()
    expected_paths = [
        {"warehouse": "lake", "path": str(p), "device": "/dev/mapper/vg-lake", "mountpoint": str(p), "fstype": "xfs"}
        for p in (lake, mirror)
    ]
    expected_disks = [{"warehouse": "lake", "device": d} for d in ("dm-3", "sdb2", "sdb")]
    assert (expected_paths, expected_disks) == (
        info(samples, "warehouse_path_info"),
        info(samples, "warehouse_disk_info"),
    )


def test_symlinked_path_is_resolved_to_the_mount_of_its_target(tmp_path: Path) -> None:
    (tmp_path / "lake").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "lake")
    procfs = fixture_procfs(
        tmp_path,
        (f"22 1 8:17 / / rw - ext4 /dev/sdb1 rw\n40 22 253:3 / {tmp_path / 'lake'} rw - xfs /dev/mapper/vg-lake rw\n"),
    )
    samples = collector(tmp_path / "link", procfs=procfs, sysfs=str(make_sysfs(tmp_path))).collect()
    assert ["/dev/mapper/vg-lake"] == [d["device"] for d in info(samples, "warehouse_path_info")]


# --- failures and flags ---------------------------------------------------------------------


def test_missing_path_reports_device_error_and_nothing_else_while_other_paths_report(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    samples = collector(missing, tmp_path).collect()
    assert ({"warehouse_filesystem_device_error": 1.0}, 0.0) == (
        values(samples, str(missing)),
        values(samples, str(tmp_path))["warehouse_filesystem_device_error"],
    )


MOUNTINFO_RO_BIND = (
    "29 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "40 29 8:17 /lake /data/lake ro,relatime shared:2 - ext4 /dev/sdb1 {super}\n"
)


def read_only_statvfs(path: str) -> os.statvfs_result:
    real = os.statvfs("/")
    return os.statvfs_result((*real[:8], real.f_flag | os.ST_RDONLY, real.f_namemax))


def test_a_filesystem_mounted_read_only_is_reported(tmp_path: Path) -> None:
    procfs = fixture_procfs(tmp_path, MOUNTINFO_RO_BIND.format(super="ro,errors=remount-ro"))
    samples = collector("/data/lake", procfs=procfs, statvfs=read_only_statvfs).collect()
    assert 1.0 == values(samples, "/data/lake")["warehouse_filesystem_readonly"]


def test_a_read_only_view_of_a_writable_filesystem_is_not_reported(tmp_path: Path) -> None:
    # The agent's sandbox (ProtectSystem, a `:ro` volume) mounts the warehouse read-only for the
    # agent alone; statvfs then says read-only, the filesystem's super options say writable.
    procfs = fixture_procfs(tmp_path, MOUNTINFO_RO_BIND.format(super="rw,errors=remount-ro"))
    samples = collector("/data/lake", procfs=procfs, statvfs=read_only_statvfs).collect()
    assert 0.0 == values(samples, "/data/lake")["warehouse_filesystem_readonly"]


def test_every_emitted_metric_is_declared_and_every_declared_one_is_emitted(tmp_path: Path) -> None:
    emitted = {s.name for s in collector(tmp_path, tmp_path / "missing").collect()}
    assert {m.name for m in DISK_METRICS} == emitted


def test_collector_is_named_warehouse_disk_with_the_warehouse_as_instance() -> None:
    assert ("warehouse_disk", "lake") == (collector("/").name, collector("/").instance)
