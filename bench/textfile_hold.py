"""A 100,000-series textfile held for 30 minutes: is the daemon's resident memory flat after the first 2?

A real `tripwired run` reads a textfile directory of 4 files of 25,000 series each at a 5 s
interval; every 10 s one of the files is replaced (written aside, renamed in) with new values,
as the cron job behind a textfile does; /metrics is read once a second asking for gzip, as
Prometheus scrapes. RSS is sampled every 10 s. Reported: RSS at 2 minutes, its median and range
after, and the slope of a least-squares line through the samples after 2 minutes (MB per 10
minutes): flat means a slope near 0, well below what one cycle's garbage would add. With no rules
the store keeps 10 minutes of points (twice the lookback), and every value here changes within 40 s,
so the store itself grows until then: the slope after 12 minutes is reported too, and RSS every
5 minutes.

Run: .venv/bin/python -m bench.textfile_hold [--minutes 30] [--series 100000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import free_port, rss_mb, start_tripwired, wait_http

FILES = 4
WARM_UP_SECONDS = 120.0
RETAINED_SECONDS = 720.0  # the store's 10 minutes of points, and 2 more


def write_file(directory: Path, index: int, series: int, generation: int) -> None:
    name = f"hold_{index}_value"
    lines = [f"# HELP {name} A value per instance.", f"# TYPE {name} gauge"]
    lines += [f'{name}{{instance="host-{i:06d}",shard="{i % 16}"}} {i + generation}' for i in range(series)]
    aside = directory / f".hold_{index}.prom.tmp"
    aside.write_text("\n".join(lines) + "\n")
    os.replace(aside, directory / f"hold_{index}.prom")


def slope_per_10_minutes(points: list[tuple[float, float]]) -> float:
    mean_t = statistics.fmean(t for t, _ in points)
    mean_v = statistics.fmean(v for _, v in points)
    num = sum((t - mean_t) * (v - mean_v) for t, v in points)
    den = sum((t - mean_t) ** 2 for t, _ in points)
    return num / den * 600 if den else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--series", type=int, default=100_000)
    args = parser.parse_args()
    per_file = args.series // FILES
    with tempfile.TemporaryDirectory() as work:
        textfiles = Path(work) / "textfile"
        textfiles.mkdir()
        for index in range(FILES):
            write_file(textfiles, index, per_file, 0)
        config = Path(work) / "tripwired.yaml"
        config.write_text(
            f"global: {{interval: 5s}}\nstate_dir: {work}/state\ncollectors:\n  textfile: {{directory: {textfiles}}}\n"
        )
        port = free_port()
        daemon = start_tripwired(config, port)
        samples: list[tuple[float, float]] = []
        try:
            wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=120)
            started = time.monotonic()
            generation = 0
            with httpx.Client(headers={"Accept-Encoding": "gzip"}, timeout=30) as client:
                while (elapsed := time.monotonic() - started) < args.minutes * 60:
                    second = int(elapsed)
                    if second % 10 == 0:
                        samples.append((elapsed, rss_mb(daemon.pid)))
                        generation += 1
                        write_file(textfiles, generation % FILES, per_file, generation)
                    client.get(f"http://127.0.0.1:{port}/metrics").raise_for_status()
                    time.sleep(max(0.0, second + 1 - (time.monotonic() - started)))
        finally:
            daemon.terminate()
            daemon.wait(30)
    after = [(t, v) for t, v in samples if t >= WARM_UP_SECONDS]
    at_warm_up = after[0][1] if after else float("nan")
    values = sorted(v for _, v in after)
    print(
        f"{args.series:,} series in {FILES} files, {args.minutes:g} min, {len(samples)} samples: "
        f"RSS at {WARM_UP_SECONDS / 60:g} min {at_warm_up:.1f} MB; after it median {statistics.median(values):.1f} MB, "
        f"range {values[0]:.1f}-{values[-1]:.1f} MB; slope {slope_per_10_minutes(after):+.2f} MB per 10 min; "
        f"at the end {samples[-1][1]:.1f} MB"
    )
    retained = [(t, v) for t, v in samples if t >= RETAINED_SECONDS]
    if len(retained) > 2:
        print(f"after {RETAINED_SECONDS / 60:g} min: slope {slope_per_10_minutes(retained):+.2f} MB per 10 min")
    every_5 = [f"{t / 60:.0f} min {v:.1f} MB" for t, v in samples if int(t) % 300 < 10]
    print("RSS: " + ", ".join(every_5))


if __name__ == "__main__":
    main()
