"""Finding the filesystem and block devices under a path: fixture mountinfo and sysfs, and this machine."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from agent.collect.warehouse_mounts import (
    Mount,
    block_devices,
    mount_of,
    parse_mountinfo,
    read_mountinfo,
    unescape_mountinfo,
)

MOUNTINFO = """\
22 1 8:17 / / rw,relatime shared:1 - ext4 /dev/sdb1 rw,errors=remount-ro
40 22 253:3 / /data/lake rw,relatime shared:20 - xfs /dev/mapper/vg-lake rw,attr2
41 22 253:3 /exports /srv/lake\\040mirror rw,relatime shared:20 master:3 - xfs /dev/mapper/vg-lake rw
42 22 0:45 / /data/btrfs rw,relatime - btrfs /dev/sdb2 rw,space_cache
43 40 0:50 / /data/lake/tmp rw,nosuid - tmpfs tmpfs rw
44 22 253:3 / /data/over rw - xfs /dev/mapper/vg-lake rw
45 44 0:51 / /data/over rw - tmpfs tmpfs rw
46 22 259:1 / /data/back\\134slash rw - ext4 /dev/nvme0n1p1 rw
"""


def mounts() -> list[Mount]:
    return parse_mountinfo(MOUNTINFO)


def by_mountpoint(mountpoint: str) -> Mount:
    return next(m for m in mounts() if m.mountpoint == mountpoint)


def holder(path: str, table: list[Mount] | None = None) -> Mount:
    mount = mount_of(path, mounts() if table is None else table)
    assert mount is not None, path
    return mount


# --- parsing ---------------------------------------------------------------------------


def test_mountinfo_fields_are_parsed() -> None:
    assert Mount(253, 3, "/data/lake", "/data/lake", "xfs", "/dev/mapper/vg-lake") == mounts()[1]


def test_bind_mount_with_space_is_decoded_for_matching_and_for_the_label() -> None:
    mount = by_mountpoint("/srv/lake mirror")
    assert ("/srv/lake mirror", 253, 3) == (mount.mountpoint_label, mount.major, mount.minor)


def test_backslash_escape_is_decoded_for_matching_but_kept_in_the_label_as_node_exporter_does() -> None:
    mount = by_mountpoint("/data/back\\slash")
    assert "/data/back\\134slash" == mount.mountpoint_label


def test_unescape_decodes_the_four_characters_the_kernel_escapes() -> None:
    assert "a b\tc\nd\\e" == unescape_mountinfo("a\\040b\\011c\\012d\\134e")


def test_malformed_mountinfo_lines_are_skipped() -> None:
    assert [] == parse_mountinfo("garbage\n1 2 x:y / /a rw - ext4 /dev/a rw\n")


# --- which mount holds a path ------------------------------------------------------------


def test_path_belongs_to_the_longest_mount_point_prefix() -> None:
    assert "/data/lake/tmp" == holder("/data/lake/tmp/part-0").mountpoint


def test_mount_point_prefix_must_end_at_a_path_separator() -> None:
    assert "/" == holder("/data/lakehouse/x").mountpoint


def test_the_mount_point_itself_belongs_to_its_mount() -> None:
    assert "/data/lake" == holder("/data/lake").mountpoint


def test_the_last_of_mounts_stacked_on_one_point_wins() -> None:
    assert "tmpfs" == holder("/data/over/file").fstype


def test_relative_path_belongs_to_no_mount() -> None:
    assert mount_of("data/lake", mounts()) is None


# --- block devices, on a fixture sysfs shaped like the kernel's ----------------------------


def make_sysfs(root: Path) -> Path:
    """A sysfs with sdb (partitions sdb1, sdb2), dm-3 (LVM over sdb2), nvme0n1p1 and cciss/c0d0p1."""
    sysfs = root / "sys"
    sdb = sysfs / "devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sdb"
    nvme = sysfs / "devices/pci0000:00/0000:00:1d.0/nvme/nvme0/nvme0n1"
    cciss = sysfs / "devices/pci0000:00/0000:00:1c.0/cciss0/block/cciss!c0d0"
    dm3 = sysfs / "devices/virtual/block/dm-3"
    for partition in (sdb / "sdb1", sdb / "sdb2", nvme / "nvme0n1p1", cciss / "cciss!c0d0p1"):
        partition.mkdir(parents=True)
        (partition / "partition").write_text("1\n")
    (dm3 / "dm").mkdir(parents=True)
    (dm3 / "dm" / "name").write_text("vg-lake\n")
    (dm3 / "slaves").mkdir()
    (dm3 / "slaves" / "sdb2").symlink_to(os.path.relpath(sdb / "sdb2", dm3 / "slaves"))
    links = {
        "8:17": sdb / "sdb1",
        "8:18": sdb / "sdb2",
        "253:3": dm3,
        "259:1": nvme / "nvme0n1p1",
        "104:1": cciss / "cciss!c0d0p1",
    }
    for directory in ("dev/block", "class/block"):
        (sysfs / directory).mkdir(parents=True)
    for number, target in links.items():
        (sysfs / "dev/block" / number).symlink_to(os.path.relpath(target, sysfs / "dev/block"))
        (sysfs / "class/block" / target.name).symlink_to(os.path.relpath(target, sysfs / "class/block"))
    return sysfs


def devices_of(mount: Mount, tmp_path: Path) -> list[str]:
    return block_devices(mount, str(make_sysfs(tmp_path)))


def test_partition_maps_to_itself_and_its_disk(tmp_path: Path) -> None:
    assert ["sdb1", "sdb"] == devices_of(by_mountpoint("/"), tmp_path)


def test_device_mapper_volume_maps_to_itself_its_slave_and_the_slave_disk(tmp_path: Path) -> None:
    assert ["dm-3", "sdb2", "sdb"] == devices_of(by_mountpoint("/data/lake"), tmp_path)


def test_bind_mount_maps_to_the_devices_of_its_source(tmp_path: Path) -> None:
    assert ["dm-3", "sdb2", "sdb"] == devices_of(by_mountpoint("/srv/lake mirror"), tmp_path)


def test_nvme_partition_maps_to_its_namespace(tmp_path: Path) -> None:
    assert ["nvme0n1p1", "nvme0n1"] == devices_of(by_mountpoint("/data/back\\slash"), tmp_path)


def test_anonymous_device_number_falls_back_to_the_mount_source(tmp_path: Path) -> None:
    assert ["sdb2", "sdb"] == devices_of(by_mountpoint("/data/btrfs"), tmp_path)


def test_anonymous_device_mapper_source_is_found_by_its_dm_name(tmp_path: Path) -> None:
    mount = Mount(0, 60, "/data/pool", "/data/pool", "btrfs", "/dev/mapper/vg-lake")
    assert ["dm-3", "sdb2", "sdb"] == devices_of(mount, tmp_path)


def test_sysfs_bang_is_written_as_a_slash_as_in_diskstats(tmp_path: Path) -> None:
    mount = Mount(104, 1, "/data/old", "/data/old", "ext3", "/dev/cciss/c0d0p1")
    assert ["cciss/c0d0p1", "cciss/c0d0"] == devices_of(mount, tmp_path)


def test_filesystem_without_a_block_device_has_none(tmp_path: Path) -> None:
    assert [] == devices_of(by_mountpoint("/data/lake/tmp"), tmp_path)


# --- this machine ----------------------------------------------------------------------------


def diskstats_names() -> dict[tuple[int, int], str]:
    names = {}
    for line in Path("/proc/diskstats").read_text().splitlines():
        major, minor, name = line.split()[:3]
        names[(int(major), int(minor))] = name
    return names


def df_fields(path: Path, *fields: str) -> list[str]:
    out = subprocess.run(
        ["df", f"--output={','.join(fields)}", str(path)], check=True, capture_output=True, text=True
    ).stdout
    return out.splitlines()[1].split()


def test_mount_of_a_real_path_is_the_one_df_reports(tmp_path: Path) -> None:
    mount = holder(os.path.realpath(tmp_path), read_mountinfo("/proc"))
    assert df_fields(tmp_path, "source", "target", "fstype") == [mount.source, mount.mountpoint_label, mount.fstype]


def test_mount_of_a_real_path_has_the_device_number_of_the_path(tmp_path: Path) -> None:
    mount = holder(os.path.realpath(tmp_path), read_mountinfo("/proc"))
    st_dev = os.stat(tmp_path).st_dev
    assert (os.major(st_dev), os.minor(st_dev)) == (mount.major, mount.minor)


def test_block_devices_of_a_real_path_are_diskstats_names_starting_with_its_own(tmp_path: Path) -> None:
    mount = holder(os.path.realpath(tmp_path), read_mountinfo("/proc"))
    names = diskstats_names()
    expected_first = names.get((mount.major, mount.minor))
    devices = block_devices(mount, "/sys")
    assert (expected_first, True) == (devices[0] if devices else None, set(devices) <= set(names.values()))
