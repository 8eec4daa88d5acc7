"""What the write-ahead log costs the default agent: the same config at 1 s with the WAL on and off.

Both daemons run side by side (same machine, same minute), so load from elsewhere hits both.
After a warm-up, CPU seconds per minute and resident memory are measured over consecutive
windows; the pair is started again `--repeats` times, and the median and quartiles of the
per-window ratio are reported (CPU time is counted in 10 ms ticks, so a window of 60 s
resolves about 0.01 s/min, ~4 % of the default agent's CPU: use several windows).
Run: .venv/bin/python -m bench.wal_overhead [--seconds 60] [--windows 4] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import cpu_seconds, free_port, rss_mb, start_tripwired, wait_http

WARM_UP_SECONDS = 15


def start(state_dir: Path, wal: bool) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = state_dir / "config.yaml"
    config.write_text(
        f"global: {{interval: 1s}}\nstate_dir: {state_dir}\nstore: {{wal: {{enabled: {str(wal).lower()}}}}}\n"
    )
    proc = start_tripwired(config, port)
    return proc, port


def one_run(seconds: float, windows: int) -> list[dict[bool, tuple[float, float]]]:
    """Start both daemons, warm up, then measure `windows` consecutive windows of `seconds`."""
    with tempfile.TemporaryDirectory() as on_dir, tempfile.TemporaryDirectory() as off_dir:
        procs = {True: start(Path(on_dir), True), False: start(Path(off_dir), False)}
        try:
            for _, port in procs.values():
                wait_http(f"http://127.0.0.1:{port}/-/ready")
            time.sleep(WARM_UP_SECONDS)
            measured = []
            for _ in range(windows):
                before = {wal: cpu_seconds(p.pid) for wal, (p, _) in procs.items()}
                time.sleep(seconds)
                measured.append(
                    {
                        wal: ((cpu_seconds(p.pid) - before[wal]) * 60 / seconds, rss_mb(p.pid))
                        for wal, (p, _) in procs.items()
                    }
                )
            return measured
        finally:
            for proc, _ in procs.values():
                proc.terminate()
                proc.wait(timeout=30)


def spread(values: list[float]) -> str:
    quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return f"median {statistics.median(values):.3f} (quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60, help="length of one measured window")
    parser.add_argument("--windows", type=int, default=4, help="windows per start of the two daemons")
    parser.add_argument("--repeats", type=int, default=2, help="starts of the two daemons")
    args = parser.parse_args()
    runs = [window for _ in range(args.repeats) for window in one_run(args.seconds, args.windows)]
    for wal in (False, True):
        cpu = [r[wal][0] for r in runs]
        rss = [r[wal][1] for r in runs]
        print(f"WAL {'on ' if wal else 'off'}: CPU s/min {spread(cpu)}; RSS MB {spread(rss)}")
    ratios = [r[True][0] / r[False][0] for r in runs]
    extra = [r[True][1] - r[False][1] for r in runs]
    print(f"WAL on / off CPU, per window: {spread(ratios)}; windows: {', '.join(f'{x:.2f}' for x in ratios)}")
    print(f"WAL extra RSS, per window: {spread(extra)} MB")


if __name__ == "__main__":
    main()
