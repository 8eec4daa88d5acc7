"""tripwired's default config at a 1 s interval, side by side with node_exporter scraped every second.

Measures resident memory, CPU seconds per minute and /metrics latency (p50/p99 over 200 requests).
Run: .venv/bin/python -m bench.daemon_resources [--seconds 60]
"""

from __future__ import annotations

import argparse
import subprocess
import time

import httpx

from bench.common import cpu_seconds, free_port, rss_mb, start_tripwired, summary_ms, wait_http

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"


def start_daemon(port: int) -> subprocess.Popen[bytes]:
    config = "/tmp/tripwired-bench-1s.yaml"
    with open(config, "w") as f:
        f.write("global: {interval: 1s}\n")
    return start_tripwired(config, port)


def start_node_exporter(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def latencies(client: httpx.Client, url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        client.get(url).raise_for_status()
        out.append(time.perf_counter() - started)
    return out


def series_count(client: httpx.Client, url: str) -> int:
    return sum(1 for line in client.get(url).text.splitlines() if line and not line.startswith("#"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    ports = {"tripwired": free_port(), "node_exporter": free_port()}
    procs = {
        "tripwired": start_daemon(ports["tripwired"]),
        "node_exporter": start_node_exporter(ports["node_exporter"]),
    }
    try:
        urls = {name: f"http://127.0.0.1:{port}/metrics" for name, port in ports.items()}
        for url in urls.values():
            wait_http(url)
        time.sleep(3)  # warm-up: first collections, imports done
        with httpx.Client() as client:
            cpu_before = {name: cpu_seconds(p.pid) for name, p in procs.items()}
            started = time.monotonic()
            while time.monotonic() - started < args.seconds:
                for url in urls.values():
                    client.get(url)  # one Prometheus-like scrape of each per second
                time.sleep(max(0.0, 1.0 - (time.monotonic() - started) % 1.0))
            elapsed = time.monotonic() - started
            cpu = {name: (cpu_seconds(p.pid) - cpu_before[name]) * 60 / elapsed for name, p in procs.items()}
            rss = {name: rss_mb(p.pid) for name, p in procs.items()}
            lat = {name: latencies(client, url, 200) for name, url in urls.items()}
            series = {name: series_count(client, url) for name, url in urls.items()}
        print(f"measured over {elapsed:.0f} s at a 1 s interval/scrape")
        print("| process | RSS MB | CPU s/min | /metrics latency (200 requests) | series |")
        print("|---|---|---|---|---|")
        for name in procs:
            print(f"| {name} | {rss[name]:.1f} | {cpu[name]:.2f} | {summary_ms(lat[name])} | {series[name]} |")
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
