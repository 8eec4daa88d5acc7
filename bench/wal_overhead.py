"""What the write-ahead log costs the default agent: the same config at 1 s with the WAL on and off.

Both daemons run side by side (same machine, same minute), so load from elsewhere hits both.
After a warm-up, CPU seconds per minute and resident memory are sampled over the window; the
run is repeated and the median and spread reported.
Run: .venv/bin/python -m bench.wal_overhead [--seconds 60] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import cpu_seconds, free_port, rss_mb, wait_http

WARM_UP_SECONDS = 15


def start(state_dir: Path, wal: bool) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = state_dir / "config.yaml"
    config.write_text(
        f"global: {{interval: 1s}}\nstate_dir: {state_dir}\nstore: {{wal: {{enabled: {str(wal).lower()}}}}}\n"
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent",
            "run",
            f"--config={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, port


def one_run(seconds: float) -> dict[bool, tuple[float, float]]:
    with tempfile.TemporaryDirectory() as on_dir, tempfile.TemporaryDirectory() as off_dir:
        procs = {True: start(Path(on_dir), True), False: start(Path(off_dir), False)}
        try:
            for _, port in procs.values():
                wait_http(f"http://127.0.0.1:{port}/-/ready")
            time.sleep(WARM_UP_SECONDS)
            before = {wal: cpu_seconds(p.pid) for wal, (p, _) in procs.items()}
            time.sleep(seconds)
            return {
                wal: ((cpu_seconds(p.pid) - before[wal]) * 60 / seconds, rss_mb(p.pid)) for wal, (p, _) in procs.items()
            }
        finally:
            for proc, _ in procs.values():
                proc.terminate()
                proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run(args.seconds) for _ in range(args.repeats)]
    for wal in (False, True):
        cpu = [r[wal][0] for r in runs]
        rss = [r[wal][1] for r in runs]
        print(
            f"WAL {'on ' if wal else 'off'}: CPU {statistics.median(cpu):.3f} s/min "
            f"(min {min(cpu):.3f}, max {max(cpu):.3f}); RSS {statistics.median(rss):.1f} MB "
            f"(min {min(rss):.1f}, max {max(rss):.1f})"
        )
    ratios = [r[True][0] / r[False][0] for r in runs]
    extra = [r[True][1] - r[False][1] for r in runs]
    print(f"WAL on / off CPU: median {statistics.median(ratios):.2f}x (runs: {', '.join(f'{x:.2f}' for x in ratios)})")
    print(f"WAL extra RSS: median {statistics.median(extra):+.1f} MB (runs: {', '.join(f'{x:+.1f}' for x in extra)})")


if __name__ == "__main__":
    main()
