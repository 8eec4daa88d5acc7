"""The warehouse scan collector on real temporary trees; only the clock and the directory listing are faked."""

from __future__ import annotations

import os
import shutil
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from agent.clock import FakeClock
from agent.collect.warehouse import SCAN_METRICS, WarehouseScanCollector, scan_runner_timeout
from agent.collect.warehouse_walk import DirListing, WalkOptions, walk
from agent.config.schema import Duration, ScanConfig, WarehouseConfig
from agent.model import Sample, labels_of


class TickingClock(FakeClock):
    """A fake clock that moves one step each time it is read, as a slow scan would see it."""

    def __init__(self, step: float) -> None:
        super().__init__()
        self.step = step

    def monotonic(self) -> float:
        self.advance(self.step)
        return super().monotonic()


def make_file(path: Path, size: int = 0, mtime: float = 1_700_000_000.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (mtime, mtime))
    return path


def collector(
    *paths: Path,
    clock: FakeClock | None = None,
    list_dir: Callable[[str], DirListing] = os.scandir,
    timeout: float = 60.0,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    follow_symlinks: bool = False,
    cross_filesystems: bool = False,
) -> WarehouseScanCollector:
    scan = ScanConfig(
        timeout=Duration(timeout),
        include=list(include),
        exclude=list(exclude),
        follow_symlinks=follow_symlinks,
        cross_filesystems=cross_filesystems,
    )
    config = WarehouseConfig(name="lake", paths=[str(p) for p in paths], scan=scan)
    return WarehouseScanCollector(config, clock or FakeClock(), list_dir=list_dir)


def values(samples: Sequence[Sample], path: Path) -> dict[str, float]:
    wanted = labels_of(warehouse="lake", path=str(path))
    return {s.name: s.value for s in samples if s.labels == wanted}


def errors(samples: Sequence[Sample], path: Path) -> dict[str, float]:
    return {
        dict(s.labels)["reason"]: s.value
        for s in samples
        if s.name == "warehouse_scan_errors_total" and dict(s.labels)["path"] == str(path)
    }


def scan(
    root: Path,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    follow_symlinks: bool = False,
    cross_filesystems: bool = False,
) -> dict[str, float]:
    scanner = collector(
        root, include=include, exclude=exclude, follow_symlinks=follow_symlinks, cross_filesystems=cross_filesystems
    )
    return values(scanner.collect(), root)


def totals(found: dict[str, float]) -> tuple[float, float]:
    return found["warehouse_path_size_bytes"], found["warehouse_path_files"]


# --- what a scan counts -------------------------------------------------------------------------


def test_sizes_counts_and_mtimes_of_nested_files(tmp_path: Path) -> None:
    make_file(tmp_path / "a.csv", 100, mtime=1000)
    make_file(tmp_path / "day=1" / "b.csv", 250, mtime=5000)
    make_file(tmp_path / "day=1" / "hour=3" / "c.csv", 50, mtime=3000)
    (tmp_path / "empty").mkdir()
    found = scan(tmp_path)
    assert (400, 3, 1000, 5000) == (
        *totals(found),
        found["warehouse_path_oldest_file_timestamp_seconds"],
        found["warehouse_path_newest_file_timestamp_seconds"],
    )


def test_empty_path_reports_zero_files_and_no_timestamps(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    found = scan(tmp_path)
    assert ((0, 0), False) == (totals(found), "warehouse_path_oldest_file_timestamp_seconds" in found)


def test_only_regular_files_count(tmp_path: Path) -> None:
    make_file(tmp_path / "a.csv", 10)
    os.mkfifo(tmp_path / "pipe")
    assert (10, 1) == totals(scan(tmp_path))


def test_missing_path_reports_no_size_and_counts_vanished(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    samples = collector(missing).collect()
    assert ("warehouse_path_files" in values(samples, missing), 1.0) == (False, errors(samples, missing)["vanished"])


def test_include_globs_select_files_by_path_relative_to_the_warehouse_path(tmp_path: Path) -> None:
    make_file(tmp_path / "day=1" / "part-0.parquet", 100)
    make_file(tmp_path / "day=1" / "part-0.crc", 1)
    make_file(tmp_path / "top.parquet", 10)
    assert (110, 2) == totals(scan(tmp_path, include=["*.parquet"]))


def test_exclude_globs_drop_files_and_prune_directories(tmp_path: Path) -> None:
    make_file(tmp_path / "day=1" / "part-0.parquet", 100)
    make_file(tmp_path / "day=1" / "_SUCCESS", 0)
    make_file(tmp_path / "_tmp" / "day=1" / "part-9.parquet", 1000)
    assert (100, 1) == totals(scan(tmp_path, exclude=["_tmp", "*/_SUCCESS"]))


# --- links and filesystems ------------------------------------------------------------------------


def test_symlinks_are_not_followed_by_default(tmp_path: Path) -> None:
    root, outside = tmp_path / "lake", tmp_path / "outside"
    make_file(root / "a.csv", 10)
    make_file(outside / "big.csv", 1000)
    (root / "linked-dir").symlink_to(outside)
    (root / "linked-file.csv").symlink_to(outside / "big.csv")
    assert (10, 1) == totals(scan(root))


def test_symlink_loop_is_walked_once_when_following_symlinks(tmp_path: Path) -> None:
    make_file(tmp_path / "a.csv", 10)
    make_file(tmp_path / "sub" / "b.csv", 20)
    (tmp_path / "sub" / "loop").symlink_to("..")
    (tmp_path / "self").symlink_to(".")
    assert (30, 2) == totals(scan(tmp_path, follow_symlinks=True))


def test_dangling_and_circular_symlinks_are_ignored_when_following_symlinks(tmp_path: Path) -> None:
    make_file(tmp_path / "a.csv", 10)
    (tmp_path / "dangling").symlink_to("missing")
    (tmp_path / "ping").symlink_to("pong")
    (tmp_path / "pong").symlink_to("ping")
    samples = collector(tmp_path, follow_symlinks=True).collect()
    assert ((10, 1), 0.0) == (totals(values(samples, tmp_path)), sum(errors(samples, tmp_path).values()))


def test_two_followed_symlinks_to_one_directory_count_it_once(tmp_path: Path) -> None:
    root, outside = tmp_path / "lake", tmp_path / "outside"
    make_file(root / "a.csv", 10)
    make_file(outside / "big.csv", 1000)
    (root / "one").symlink_to(outside)
    (root / "two").symlink_to(outside)
    assert (1010, 2) == totals(scan(root, follow_symlinks=True))


@pytest.fixture
def other_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A directory on another filesystem than tmp_path: /dev/shm (tmpfs) where it is one."""
    if not os.path.isdir("/dev/shm") or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.fail("needs /dev/shm on a filesystem of its own (tmpfs, as Debian mounts it) to cross into")
    directory = Path(tempfile.mkdtemp(dir="/dev/shm"))
    yield directory
    shutil.rmtree(directory)


def test_scan_does_not_cross_into_another_filesystem(tmp_path: Path, other_filesystem: Path) -> None:
    make_file(tmp_path / "a.csv", 10)
    make_file(other_filesystem / "elsewhere.csv", 1000)
    (tmp_path / "mnt").symlink_to(other_filesystem)
    assert (10, 1) == totals(scan(tmp_path, follow_symlinks=True))


def test_scan_crosses_filesystems_when_asked(tmp_path: Path, other_filesystem: Path) -> None:
    make_file(tmp_path / "a.csv", 10)
    make_file(other_filesystem / "elsewhere.csv", 1000)
    (tmp_path / "mnt").symlink_to(other_filesystem)
    assert (1010, 2) == totals(scan(tmp_path, follow_symlinks=True, cross_filesystems=True))


# --- errors: the directory listing is the boundary faked here ---------------------------------------
# CI runs as root, and root reads a chmod 000 directory anyway, so an unreadable directory
# is made by a listing function that raises what os.scandir raises for one (EACCES).


def denying(*names: str) -> Callable[[str], DirListing]:
    def list_dir(path: str) -> DirListing:
        if os.path.basename(path) in names:
            raise PermissionError(13, "Permission denied", path)
        return os.scandir(path)

    return list_dir


def removing_before_yield(name: str) -> Callable[[str], DirListing]:
    """A listing that deletes `name` just before handing out its entry: removed mid-scan."""

    def entries(path: str) -> Iterator[os.DirEntry[str]]:
        with os.scandir(path) as it:
            for entry in it:
                if entry.name == name:
                    shutil.rmtree(entry.path) if entry.is_dir(follow_symlinks=False) else os.unlink(entry.path)
                yield entry

    return entries


def test_unreadable_directory_counts_permission_denied_and_the_rest_is_scanned(tmp_path: Path) -> None:
    make_file(tmp_path / "a.csv", 10)
    make_file(tmp_path / "secret" / "b.csv", 20)
    samples = collector(tmp_path, list_dir=denying("secret")).collect()
    assert ((10, 1), 1.0) == (totals(values(samples, tmp_path)), errors(samples, tmp_path)["permission_denied"])


def test_file_removed_during_the_scan_counts_vanished_and_is_not_counted(tmp_path: Path) -> None:
    make_file(tmp_path / "a.csv", 10)
    make_file(tmp_path / "gone.csv", 20)
    samples = collector(tmp_path, list_dir=removing_before_yield("gone.csv")).collect()
    assert ((10, 1), 1.0) == (totals(values(samples, tmp_path)), errors(samples, tmp_path)["vanished"])


def test_directory_removed_during_the_scan_counts_vanished(tmp_path: Path) -> None:
    make_file(tmp_path / "a.csv", 10)
    make_file(tmp_path / "day=1" / "b.csv", 20)
    samples = collector(tmp_path, list_dir=removing_before_yield("day=1")).collect()
    assert ((10, 1), 1.0) == (totals(values(samples, tmp_path)), errors(samples, tmp_path)["vanished"])


def test_error_counter_accumulates_across_scans(tmp_path: Path) -> None:
    make_file(tmp_path / "secret" / "b.csv", 20)
    scanner = collector(tmp_path, list_dir=denying("secret"))
    scanner.collect()
    assert 2.0 == errors(scanner.collect(), tmp_path)["permission_denied"]


def test_every_error_reason_is_reported_from_the_first_scan(tmp_path: Path) -> None:
    expected = {"permission_denied": 0.0, "vanished": 0.0, "timeout": 0.0, "io_error": 0.0}
    assert expected == errors(collector(tmp_path).collect(), tmp_path)


# --- the time budget ------------------------------------------------------------------------------


def test_scan_out_of_budget_is_partial_and_reports_what_it_saw(tmp_path: Path) -> None:
    for i in range(50):
        make_file(tmp_path / f"part-{i:02}.csv", 1)
    samples = collector(tmp_path, clock=TickingClock(step=1.0), timeout=20).collect()
    found = values(samples, tmp_path)
    assert (1.0, 1.0, True) == (
        found["warehouse_scan_partial"],
        errors(samples, tmp_path)["timeout"],
        0 < found["warehouse_path_files"] < 50,
    )


def test_scan_within_budget_is_complete_and_reports_its_duration(tmp_path: Path) -> None:
    make_file(tmp_path / "a.csv", 1)
    make_file(tmp_path / "b.csv", 1)
    found = values(collector(tmp_path, clock=TickingClock(step=1.0), timeout=20).collect(), tmp_path)
    # Read at the start, once before each step (2 entries, then the end of the listing), at the end.
    assert (0.0, 4.0) == (found["warehouse_scan_partial"], found["warehouse_scan_duration_seconds"])


def test_budget_is_shared_by_the_paths_of_a_warehouse(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for i in range(50):
        make_file(first / f"part-{i:02}.csv", 1)
    make_file(second / "a.csv", 1)
    samples = collector(first, second, clock=TickingClock(step=1.0), timeout=20).collect()
    found = values(samples, second)
    assert (1.0, 0.0) == (found["warehouse_scan_partial"], found["warehouse_path_files"])


def test_runner_timeout_is_a_little_above_the_scan_budget() -> None:
    assert 65.0 == scan_runner_timeout(ScanConfig(timeout=Duration(60)))


# --- memory ---------------------------------------------------------------------------------------


def test_walk_memory_does_not_grow_with_the_number_of_files(tmp_path: Path) -> None:
    for i in range(2_000):
        os.close(os.open(tmp_path / f"f{i:04}", os.O_CREAT | os.O_WRONLY))
    tracemalloc.start()
    try:
        result = walk(str(tmp_path), WalkOptions(), deadline=float("inf"), monotonic=lambda: 0.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Holding the 2,000 entries would take about 400 kB; streaming them takes a few kB.
    assert (2_000, True) == (result.files, peak < 100_000)


# --- the collector's face -------------------------------------------------------------------------


def test_every_emitted_metric_is_declared_and_every_declared_one_is_emitted(tmp_path: Path) -> None:
    make_file(tmp_path / "a.csv", 1)
    assert {m.name for m in SCAN_METRICS} == {s.name for s in collector(tmp_path).collect()}


def test_collector_is_named_warehouse_scan_with_the_warehouse_as_instance(tmp_path: Path) -> None:
    scanner = collector(tmp_path)
    assert ("warehouse_scan", "lake") == (scanner.name, scanner.instance)
