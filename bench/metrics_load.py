"""/metrics latency under 20 concurrent clients, against a real `tripwired run`.

The daemon runs its default collectors at a 1 s interval plus a textfile of 8,700 series, so
the body is ~617 KB and part of it changes every second, as on a host scraped by several
Prometheus servers, dashboards and federation at once. 20 clients, each on its own keep-alive
connection, send 100 requests each (2,000), all started together; once plain and once asking
for gzip. Latency is the client's: request sent to body read.

Run: .venv/bin/python -m bench.metrics_load [--clients 20] [--requests 100] [--series 10000]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench.common import free_port, percentile, start_tripwired, wait_http


def write_textfile(directory: Path, series: int) -> None:
    lines = ["# HELP bench_load_value A value per instance.", "# TYPE bench_load_value gauge"]
    lines += [f'bench_load_value{{instance="host-{i:05d}",job="bench",shard="{i % 16}"}} {i}' for i in range(series)]
    (directory / "load.prom").write_text("\n".join(lines) + "\n")


def start_daemon(work: Path, port: int) -> subprocess.Popen[bytes]:
    config = work / "tripwired.yaml"
    config.write_text(
        f"global: {{interval: 1s}}\nstate_dir: {work / 'state'}\n"
        f"collectors:\n  textfile: {{directory: {work / 'textfile'}}}\n"
    )
    return start_tripwired(config, port)


def client(port: int, requests: int, headers: dict[str, str], start: threading.Barrier, out: list[float]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start.wait()
    for _ in range(requests):
        began = time.perf_counter()
        conn.request("GET", "/metrics", headers=headers)
        response = conn.getresponse()
        response.read()
        out.append(time.perf_counter() - began)
        if response.status != 200:
            raise RuntimeError(f"/metrics answered {response.status}")
    conn.close()


def load(port: int, clients: int, requests: int, headers: dict[str, str]) -> list[float]:
    start = threading.Barrier(clients)
    results: list[list[float]] = [[] for _ in range(clients)]
    threads = [
        threading.Thread(target=client, args=(port, requests, headers, start, results[i])) for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [latency for result in results for latency in result]


def body_size(port: int, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/metrics", headers=headers)
    size = len(conn.getresponse().read())
    conn.close()
    return size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=100, help="per client")
    parser.add_argument("--series", type=int, default=8_700, help="series in the textfile")
    parser.add_argument("--rounds", type=int, default=3, help="load rounds per encoding")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tripwired-load-") as tmp:
        work = Path(tmp)
        (work / "textfile").mkdir()
        write_textfile(work / "textfile", args.series)
        port = free_port()
        daemon = start_daemon(work, port)
        try:
            wait_http(f"http://127.0.0.1:{port}/-/ready")
            time.sleep(3)  # a few collections in, so the textfile's series are there
            print(f"{args.clients} clients x {args.requests} requests, per round")
            print("| encoding | body | round | p50 ms | p99 ms | max ms | requests/s |")
            print("|---|---|---|---|---|---|---|")
            for name, headers in (("identity", {}), ("gzip", {"Accept-Encoding": "gzip"})):
                size = body_size(port, headers)
                for round_ in range(1, args.rounds + 1):
                    began = time.perf_counter()
                    ms = [latency * 1000 for latency in load(port, args.clients, args.requests, headers)]
                    rate = len(ms) / (time.perf_counter() - began)
                    print(
                        f"| {name} | {size:,} B | {round_} | {statistics.median(ms):.1f} | "
                        f"{percentile(ms, 0.99):.1f} | {max(ms):.1f} | {rate:.0f} |"
                    )
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)


if __name__ == "__main__":
    main()
