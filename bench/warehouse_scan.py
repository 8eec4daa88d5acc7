"""Benchmark of the warehouse scan: time and peak memory for generated trees of many files.

    .venv/bin/python bench/warehouse_scan.py                      # 10k, 100k and 1M files
    .venv/bin/python bench/warehouse_scan.py --files 10000 100000 --dir /var/tmp

Each tree is generated in a temporary directory (removed afterwards unless --keep) as
warehouse-style partitions: 1,000 files a directory, two levels deep, with sizes and
modification times that vary. Each scan runs in a fresh subprocess so that its peak RSS
(ru_maxrss) is the scan's own and not the generator's; "growth" is that peak minus the
RSS after imports, which is what the scan itself added. The page cache is warm (the tree
was just written), so the figures are the scan's CPU cost, not a cold disk's seek time.
Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILES_PER_DIRECTORY = 1_000
DIRECTORIES_PER_PARENT = 100
EPOCH = 1_700_000_000


def generate(root: Path, files: int) -> None:
    """`files` files under root/group=G/day=D/part-NNNN.parquet, sparse, with varied sizes and mtimes."""
    for i in range(files):
        directory_index, file_index = divmod(i, FILES_PER_DIRECTORY)
        group, day = divmod(directory_index, DIRECTORIES_PER_PARENT)
        directory = root / f"group={group:04}" / f"day={day:03}"
        if file_index == 0:
            directory.mkdir(parents=True)
        fd = os.open(directory / f"part-{file_index:04}.parquet", os.O_CREAT | os.O_WRONLY, 0o644)
        try:
            os.ftruncate(fd, 1 + i % 65_536)  # sparse: the apparent size is what the scan sums
            mtime = EPOCH + i
            os.utime(fd, (mtime, mtime))
        finally:
            os.close(fd)


def max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports kB


def scan_only(root: str) -> None:
    """Run one collector scan of `root` in this process and print its figures as JSON."""
    from agent.clock import SystemClock
    from agent.collect.warehouse import WarehouseScanCollector
    from agent.config.schema import Duration, ScanConfig, WarehouseConfig

    config = WarehouseConfig(name="bench", paths=[root], scan=ScanConfig(timeout=Duration(3600)))
    collector = WarehouseScanCollector(config, SystemClock())
    baseline = max_rss_bytes()
    started = time.perf_counter()
    samples = collector.collect()
    seconds = time.perf_counter() - started
    found = {s.name: s.value for s in samples if "reason" not in dict(s.labels)}
    print(
        json.dumps(
            {
                "files": found["warehouse_path_files"],
                "partial": found["warehouse_scan_partial"],
                "seconds": seconds,
                "baseline_rss": baseline,
                "peak_rss": max_rss_bytes(),
            }
        )
    )


def run_scan(root: Path) -> dict[str, float]:
    command = [sys.executable, __file__, "--scan-only", str(root)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.splitlines()[-1]))


def bench(files: int, base: str | None, keep: bool) -> None:
    root = Path(tempfile.mkdtemp(prefix=f"warehouse-bench-{files}-", dir=base))
    try:
        started = time.perf_counter()
        generate(root, files)
        generated = time.perf_counter() - started
        result = run_scan(root)
        assert result["files"] == files, result
        mib = 1024 * 1024
        print(
            f"| {files:>9,} | {result['seconds']:7.2f} s | {files / result['seconds']:>12,.0f} "
            f"| {result['peak_rss'] / mib:6.1f} MiB | {(result['peak_rss'] - result['baseline_rss']) / mib:5.1f} MiB "
            f"| {generated:6.1f} s |",
            flush=True,
        )
    finally:
        if keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dir", default=None, help="where to generate the trees (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the generated trees")
    parser.add_argument("--scan-only", metavar="ROOT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scan_only:
        scan_only(args.scan_only)
        return
    print("|     files |      scan | files/second |   peak RSS |    growth | generate |")
    print("|----------:|----------:|-------------:|-----------:|----------:|---------:|")
    for files in args.files:
        bench(files, args.dir, args.keep)


if __name__ == "__main__":
    main()
