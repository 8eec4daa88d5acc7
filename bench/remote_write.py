"""remote_write throughput: draining a WAL backlog into VictoriaMetrics, samples/s and CPU per sample.

Writes `--steps` collections of `--series` series through a store with its WAL (as an outage of
`--steps` intervals would leave them, the segments held for the queue), starts Debian's
victoria-metrics on a free loopback port, then runs one remote_write queue (the daemon's
RemoteQueue, in this process) until every sample is acknowledged, and checks with VictoriaMetrics'
own query API that every sample arrived. Reports wall time, samples/s, this process's CPU
seconds (all threads) per million samples and samples per CPU-second, and VictoriaMetrics' CPU.

Run: .venv/bin/python -m bench.remote_write [--series 20000] [--steps 60] [--max-samples-per-send 2000]
The issue's catch-up case (10 minutes at 20,000 samples/s): --series 20000 --steps 600

With --beside-prometheus, instead: the steady state beside Prometheus 2.42 (Debian) in the same
run: a real `tripwired run` reads a textfile of `--series` series every second and ships it by
remote_write to VictoriaMetrics; a real Prometheus scrapes the same file (served over HTTP) every
second and ships it to the same VictoriaMetrics. After a 20 s warm-up, both processes' CPU and
the samples each reports sent (`tripwired_remote_storage_samples_total`,
`prometheus_remote_storage_samples_total`) over `--seconds`: CPU seconds per million samples
collected and shipped, and their ratio.

With --daemon-rss, instead: two real `tripwired run` daemons collect a textfile of `--series`
series every 10 s, both with the WAL on, one also with remote_write to VictoriaMetrics; after
`--collections` collections it prints each one's RSS (what remote_write adds) and VictoriaMetrics'
count of the series received.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from agent.config.remote_write import QueueConfig, RemoteWriteConfig
from agent.config.types import Duration, Secret
from agent.model import Sample, labels_of
from agent.remote.queue import RemoteQueue
from agent.store import Store
from agent.store.wal import Wal
from bench.common import cpu_seconds, free_port, rss_mb, start_tripwired, wait_http

T0_MS = int(time.time() * 1000) - 3_600_000  # an hour ago: inside any receiver's accepted window


async def write_backlog(wal_dir: Path, series: int, steps: int) -> tuple[Wal, int]:
    """`steps` one-second collections of `series` series, held in the WAL for queue "bench"."""
    store = Store(max_series=series + 10, retention_ms=3_600_000)
    wal = Wal(wal_dir)
    wal.attach(store)
    wal.holds.hold("bench", wal.first_segment)
    for step in range(steps):
        batch = [
            Sample("bench_offset", labels_of(topic=f"t{i // 100}", partition=str(i % 100)), float(step + i))
            for i in range(series)
        ]
        store.write("collector:bench", batch, T0_MS + step * 1000)
        await store.sync()
    first = wal.first_segment
    await wal.close(store, T0_MS + steps * 1000)
    return wal, first


def start_victoria_metrics(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("victoria-metrics")
    if binary is None:
        raise SystemExit("victoria-metrics not found: apt-get install victoria-metrics")
    port = free_port()
    args = [binary, f"-storageDataPath={directory}", f"-httpListenAddr=127.0.0.1:{port}", "-retentionPeriod=100y"]
    args.append("-search.latencyOffset=0s")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health")
    return proc, url


async def drain(queue: RemoteQueue, total: int) -> float:
    """Run the queue until it has sent `total` samples; the wall time it took."""
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(queue.run(stop))
    while queue.stats.sent + queue.stats.failed < total:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    return elapsed


def stored_samples(url: str, steps: int) -> int:
    httpx.get(f"{url}/internal/force_flush", timeout=60)
    query = f"sum(count_over_time(bench_offset[{steps + 10}s]))"
    end = (T0_MS + steps * 1000) / 1000
    result = httpx.get(f"{url}/api/v1/query", params={"query": query, "time": end}, timeout=120).json()
    return int(float(result["data"]["result"][0]["value"][1])) if result["data"]["result"] else 0


def daemon_config(base: Path, name: str, series: int, remote_url: str | None, interval: str = "10s") -> Path:
    textfile = base / name / "textfile"
    textfile.mkdir(parents=True)
    lines = [f'bench_offset{{topic="t{i // 100}",partition="{i % 100}"}} {i}' for i in range(series)]
    (textfile / "bench.prom").write_text("# TYPE bench_offset gauge\n" + "\n".join(lines) + "\n")
    text = (
        f"global: {{interval: {interval}}}\nstate_dir: {base / name / 'state'}\nstore: {{wal: {{enabled: true}}}}\n"
        f"collectors:\n  host: {{enabled: false}}\n  textfile: {{directory: {textfile}, watch: false}}\n"
    )
    if remote_url is not None:
        text += f"remote_write: [{{url: '{remote_url}', queue_config: {{max_samples_per_send: 2000}}}}]\n"
    config = base / name / "tripwired.yaml"
    config.write_text(text)
    return config


def collected(port: int) -> float:
    """How many collections of the textfile the daemon has done (its own counter)."""
    query = 'count_over_time(tripwired_collector_duration_seconds{collector="textfile"}[1h])'
    result = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}, timeout=30).json()
    return float(result["data"]["result"][0]["value"][1]) if result["data"]["result"] else 0.0


def daemon_rss(series: int, collections: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-rw-rss-") as tmp:
        base = Path(tmp)
        vm, url = start_victoria_metrics(base / "vm")
        procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
        try:
            for name, remote in (("wal-only", None), ("remote-write", f"{url}/api/v1/write")):
                port = free_port()
                procs[name] = (start_tripwired(daemon_config(base, name, series, remote), port), port)
            for _, port in procs.values():
                wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=120)
            while min(collected(port) for _, port in procs.values()) < collections:
                time.sleep(1)
            print(f"{series:,} series, {collections} collections at 10 s:")
            for name, (proc, _) in procs.items():
                print(f"  {name}: RSS {rss_mb(proc.pid):.0f} MB, peak {rss_mb(proc.pid, field='VmHWM'):.0f} MB")
            httpx.get(f"{url}/internal/force_flush", timeout=60)
            count = httpx.get(f"{url}/api/v1/series/count", timeout=60).json()
            print(f"  VictoriaMetrics series: {count}")
        finally:
            for proc, _ in procs.values():
                proc.terminate()
                proc.wait()
            vm.terminate()
            vm.wait()


def counter_sum(url: str, name: str) -> float:
    """The sum of a counter's series on a /metrics page."""
    lines = httpx.get(f"{url}/metrics", timeout=30).text.splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith((f"{name} ", f"{name}{{")))


PROMETHEUS_CONFIG = """global: {{scrape_interval: 1s, evaluation_interval: 1m}}
scrape_configs:
  - job_name: bench
    metrics_path: /bench.prom
    static_configs: [{{targets: ['127.0.0.1:{file_port}']}}]
remote_write:
  - url: {remote_url}
    queue_config: {{max_samples_per_send: 2000}}
"""


def beside_prometheus(series: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-rw-prom-") as tmp:
        base = Path(tmp)
        vm, url = start_victoria_metrics(base / "vm")
        config = daemon_config(base, "tripwired", series, f"{url}/api/v1/write", interval="1s")
        file_port, agent_port, prom_port = free_port(), free_port(), free_port()
        files = subprocess.Popen(
            ["python3", "-m", "http.server", "--bind", "127.0.0.1", str(file_port)],
            cwd=base / "tripwired" / "textfile",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        (base / "prometheus.yml").write_text(
            PROMETHEUS_CONFIG.format(file_port=file_port, remote_url=f"{url}/api/v1/write")
        )
        prometheus = subprocess.Popen(
            [
                "/usr/bin/prometheus",
                f"--config.file={base / 'prometheus.yml'}",
                f"--storage.tsdb.path={base / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        agent = start_tripwired(config, agent_port)
        senders = {
            "tripwired": (agent, f"http://127.0.0.1:{agent_port}", "tripwired_remote_storage_samples_total"),
            "Prometheus 2.42": (prometheus, f"http://127.0.0.1:{prom_port}", "prometheus_remote_storage_samples_total"),
        }
        try:
            for _, endpoint, _ in senders.values():
                wait_http(f"{endpoint}/-/ready", timeout=120)
            time.sleep(20)  # warm-up: first collections, series created, queues started
            before = {k: (cpu_seconds(p.pid), counter_sum(e, m)) for k, (p, e, m) in senders.items()}
            time.sleep(seconds)
            after = {k: (cpu_seconds(p.pid), counter_sum(e, m)) for k, (p, e, m) in senders.items()}
        finally:
            for proc in (agent, prometheus, files, vm):
                proc.terminate()
                proc.wait()
    per_million = {}
    print(f"{series:,} series every second, {seconds:g} s measured after a 20 s warm-up:")
    for name in senders:
        cpu = after[name][0] - before[name][0]
        sent = after[name][1] - before[name][1]
        per_million[name] = cpu / sent * 1e6 if sent else float("inf")
        print(f"  {name}: {sent:,.0f} samples sent, {cpu:.1f} CPU s, {per_million[name]:.2f} CPU s per million")
    ratio = per_million["tripwired"] / per_million["Prometheus 2.42"]
    print(f"  tripwired / Prometheus CPU per sample collected and shipped: {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--max-samples-per-send", type=int, default=2000)
    parser.add_argument("--daemon-rss", action="store_true")
    parser.add_argument("--beside-prometheus", action="store_true")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--collections", type=int, default=6)
    args = parser.parse_args()
    if args.daemon_rss:
        daemon_rss(args.series, args.collections)
        return
    if args.beside_prometheus:
        beside_prometheus(args.series, args.seconds)
        return
    total = args.series * args.steps
    with tempfile.TemporaryDirectory(prefix="bench-rw-") as tmp:
        base = Path(tmp)
        wal, first = asyncio.run(write_backlog(base / "wal", args.series, args.steps))
        vm, url = start_victoria_metrics(base / "vm")
        try:
            config = RemoteWriteConfig(
                url=Secret(f"{url}/api/v1/write"),
                name="bench",
                queue_config=QueueConfig(
                    capacity=max(2500, args.max_samples_per_send),
                    max_samples_per_send=args.max_samples_per_send,
                    min_backoff=Duration(0.03),
                ),
            )
            queue = RemoteQueue(
                config,
                wal_dir=wal.directory,
                position_dir=base / "positions",
                holds=wal.holds,
                first_segment=first,
                external_labels={"bench": "1"},
                retention_seconds=86_400,
            )
            vm_cpu, cpu = cpu_seconds(vm.pid), time.process_time()
            elapsed = asyncio.run(drain(queue, total))
            cpu, vm_cpu = time.process_time() - cpu, cpu_seconds(vm.pid) - vm_cpu
            stored = stored_samples(url, args.steps)
        finally:
            vm.terminate()
            vm.wait()
    print(f"backlog: {args.series} series x {args.steps} steps = {total:,} samples")
    print(f"drained in {elapsed:.1f} s: {total / elapsed:,.0f} samples/s, {queue.stats.bytes_sent / 1e6:.1f} MB sent")
    print(f"tripwired CPU: {cpu:.1f} s ({cpu / elapsed:.2f} cores), {cpu / total * 1e6:.2f} s per million samples,")
    print(f"  {total / cpu:,.0f} samples per CPU-second")
    print(f"VictoriaMetrics CPU: {vm_cpu:.1f} s ({vm_cpu / elapsed:.2f} cores)")
    print(f"VictoriaMetrics holds {stored:,} of {total:,} samples; failed {queue.stats.failed}")


if __name__ == "__main__":
    main()
