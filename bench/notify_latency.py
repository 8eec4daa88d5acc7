"""Notification path: firing -> receiver latency, outbox delivery rate, outbox bytes per pending notification.

1. Runs the real daemon (`python -m agent run`) with a textfile collector and a rule without `for`,
   routed (group_wait 0, grouped by a per-trial label) to a webhook receiver on loopback. Each
   trial flips a textfile metric to 1 (atomic rename) and timestamps the flip; the receiver
   timestamps the POST's arrival. Reported: flip -> receive, flip -> the alert's startsAt in the
   payload (detection: watch, collection, evaluation) and startsAt -> receive (dispatch, outbox,
   HTTP). With no `for`, startsAt is the evaluation that found the alert active (= activeAt).
2. Enqueues N notifications (distinct groups) into an `Outbox` with a webhook sender to a
   receiver in its own process, then times delivery of all of them, at two concurrencies.
3. Enqueues N notifications with the receiver down and measures tripwired.db (+ -wal) growth.

Run: .venv/bin/python -m bench.notify_latency [--trials 100] [--n 2000] [--concurrency 4 32]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
import structlog

from agent.clock import SystemClock
from agent.config.receivers import WebhookConfig
from agent.config.types import Secret
from agent.model import Alert, AlertState, fingerprint, labels_of
from agent.notify.integrations.webhook.webhook import WebhookSender
from agent.notify.model import Notification
from agent.notify.outbox import Outbox
from agent.notify.outbox.stored import notification_to_json
from agent.statedb import DB_NAME
from bench.common import cpu_seconds, free_port, percentile, start_tripwired, wait_http
from bench.receiver import Receiver

RULES = """
groups:
  - name: bench
    interval: 1s
    rules:
      - alert: BenchTrip
        expr: bench_trip == 1
        labels: {severity: page}
        annotations: {summary: "trial {{ $labels.trial }} tripped"}
"""


def daemon_config(root: Path, hook_url: str) -> str:
    return f"""
global: {{interval: 1s, evaluation_interval: 1s}}
state_dir: {root / "state"}
rule_files: [{root / "rules.yaml"}]
collectors:
  host: {{enabled: false}}
  textfile: {{directory: {root / "textfile"}}}
route:
  receiver: bench
  group_by: [alertname, trial]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: bench
    webhook_configs: [{{url: "{hook_url}", send_resolved: false}}]
"""


def write_textfile(directory: Path, values: dict[str, int]) -> float:
    """Atomically replace the metric file; the wall time right after the rename."""
    tmp = directory / ".bench.tmp"
    tmp.write_text("".join(f'bench_trip{{trial="{t}"}} {v}\n' for t, v in values.items()))
    os.replace(tmp, directory / "bench.prom")
    return time.time()


def parse_go_time(text: str) -> float:
    """RFC 3339 with a 0-9 digit fraction and Z, as go_time writes it."""
    text = text.rstrip("Z")
    whole, _, fraction = text.partition(".")
    base = datetime.fromisoformat(whole + "+00:00").timestamp()
    return base + (float("0." + fraction) if fraction else 0.0)


def firing_of(receiver: Receiver, trial: str) -> tuple[float, float] | None:
    """(arrival, startsAt) of the first firing notification for a trial's group, if it came."""
    for arrived, payload in list(receiver.arrivals):
        if payload.get("status") == "firing" and payload.get("groupLabels", {}).get("trial") == trial:
            return arrived, parse_go_time(payload["alerts"][0]["startsAt"])
    return None


def ms_row(name: str, values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return f"| {name} | {percentile(ms, 0.5):.1f} | {percentile(ms, 0.99):.1f} | {ms[0]:.1f} | {ms[-1]:.1f} |"


def firing_latency(trials: int, warmup: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="tripwired-bench-notify-"))
    receiver = Receiver(free_port())
    proc: subprocess.Popen[bytes] | None = None
    try:
        (root / "textfile").mkdir()
        (root / "rules.yaml").write_text(RULES)
        (root / "config.yaml").write_text(daemon_config(root, receiver.url))
        values = {"init": 0}
        write_textfile(root / "textfile", values)
        port = free_port()
        proc = start_tripwired(root / "config.yaml", port)
        wait_http(f"http://127.0.0.1:{port}/-/ready")
        time.sleep(2)  # first collections and evaluations done
        flip_to_recv, flip_to_start, start_to_recv = [], [], []
        rng = random.Random(6)
        for i in range(warmup + trials):
            trial = f"t{i}"
            values = dict.fromkeys(values, 0) | {trial: 1}  # the previous trial resolves
            flipped = write_textfile(root / "textfile", values)
            deadline = time.monotonic() + 10
            got = None
            while got is None and time.monotonic() < deadline:
                time.sleep(0.002)
                got = firing_of(receiver, trial)
            if got is None:
                raise RuntimeError(f"no firing notification for {trial} within 10 s")
            arrived, starts_at = got
            if i >= warmup:
                flip_to_recv.append(arrived - flipped)
                flip_to_start.append(starts_at - flipped)
                start_to_recv.append(arrived - starts_at)
            time.sleep(rng.uniform(0.25, 0.6))  # not in step with the 1 s evaluation schedule
        print(
            f"### Firing -> receiver (real daemon, textfile watch, rule without `for`, group_wait 0), {trials} alerts\n"
        )
        print("| interval | p50 ms | p99 ms | min ms | max ms |")
        print("|---|---|---|---|---|")
        print(ms_row("flip (rename) -> receiver got POST", flip_to_recv))
        print(ms_row("flip -> startsAt in payload (detection)", flip_to_start))
        print(ms_row("startsAt -> receiver got POST (delivery)", start_to_recv))
        print()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait()
        receiver.close()
        shutil.rmtree(root, ignore_errors=True)


def notification(i: int, now: float) -> Notification:
    """One firing alert, shaped like a pipeline alert (topic/partition labels, a summary)."""
    labels = labels_of(
        alertname="PartitionSilent",
        severity="page",
        topic="orders",
        partition=str(i),
        instance="ingest-7.example.net:9110",
        job="tripwired",
    )
    annotations = labels_of(
        summary=f"partition {i} of orders is silent", description="No ingest for 5m; see the runbook."
    )
    alert = Alert(
        labels=labels,
        annotations=annotations,
        state=AlertState.FIRING,
        value=0.0,
        active_at=now,
        starts_at=now,
        ends_at=now + 240,
        resolved_at=None,
        generator_url="http://ingest-7:9110/graph?g0.expr=partition_ingest_ok+%3D%3D+0&g0.tab=1",
        rule="/etc/tripwired/rules.yaml;pipeline;PartitionSilent",
        fingerprint=fingerprint(labels),
    )
    return Notification(
        receiver="bench",
        group_key=f'{{}}:{{alertname="PartitionSilent", partition="{i}"}}',
        group_labels=labels_of(alertname="PartitionSilent", partition=str(i)),
        alerts=(alert,),
        created_at=now,
    )


def webhook_outbox(state_dir: Path, url: str, concurrency: int) -> tuple[Outbox, WebhookSender]:
    sender = WebhookSender(WebhookConfig(url=Secret(url)), external_url="http://bench.invalid")
    outbox = Outbox(
        state_dir, {"bench": [("webhook/0", sender)]}, SystemClock(), max_concurrency_per_receiver=concurrency
    )
    return outbox, sender


async def delivery_rate(n: int, concurrency: int, url: str, stats_url: str) -> tuple[float, float, int, float]:
    """(enqueue seconds, delivery seconds, receiver count, this process's CPU seconds delivering)."""
    state_dir = Path(tempfile.mkdtemp(prefix="tripwired-bench-outbox-"))
    outbox, sender = webhook_outbox(state_dir, url, concurrency)
    try:
        async with httpx.AsyncClient() as client:
            before = (await client.get(stats_url)).json()["count"]
            now = time.time()
            notes = [notification(i, now) for i in range(n)]
            started = time.perf_counter()
            for note in notes:
                outbox.enqueue(note)
            await outbox.sync()  # enqueue returns before the database thread wrote the rows
            enqueue_s = time.perf_counter() - started
            stop = asyncio.Event()
            t0 = time.time()
            cpu0 = time.process_time()
            runner = asyncio.create_task(outbox.run(stop))
            deadline = time.monotonic() + 120
            while outbox.pending() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            stop.set()
            await runner
            cpu = time.process_time() - cpu0
            stats = (await client.get(stats_url)).json()
        return enqueue_s, stats["last"] - t0, stats["count"] - before, cpu
    finally:
        outbox.close()
        await sender.aclose()
        shutil.rmtree(state_dir, ignore_errors=True)


def throughput(n: int, concurrencies: list[int]) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.receiver", f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/stats")
        rows = []
        for concurrency in concurrencies:
            receiver_cpu = cpu_seconds(proc.pid)
            enqueue_s, deliver_s, got, cpu = asyncio.run(
                delivery_rate(n, concurrency, f"http://127.0.0.1:{port}/hook", f"http://127.0.0.1:{port}/stats")
            )
            rows.append((concurrency, enqueue_s, deliver_s, got, cpu, cpu_seconds(proc.pid) - receiver_cpu))
        print(
            f"### Outbox -> one webhook receiver (own process, HTTP/1.1 keep-alive), {n} notifications "
            f"of distinct groups, synchronous=FULL\n"
        )
        print(
            "| max in flight per receiver | enqueue s | enqueued/s | delivery s | delivered/s | received "
            "| outbox CPU s | receiver CPU s |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for concurrency, enqueue_s, deliver_s, got, cpu, receiver_cpu in rows:
            label = f"{concurrency} (default)" if concurrency == 4 else str(concurrency)
            print(
                f"| {label} | {enqueue_s:.2f} | {n / enqueue_s:.0f} | {deliver_s:.2f} | {n / deliver_s:.0f} "
                f"| {got} | {cpu:.2f} | {receiver_cpu:.2f} |"
            )
        print()
    finally:
        proc.terminate()
        proc.wait()


def db_bytes(state_dir: Path) -> tuple[int, int]:
    db = state_dir / DB_NAME
    wal = state_dir / (DB_NAME + "-wal")
    return db.stat().st_size, wal.stat().st_size if wal.exists() else 0


async def pending_size(n: int) -> None:
    state_dir = Path(tempfile.mkdtemp(prefix="tripwired-bench-size-"))
    down = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: connection refused
    outbox, sender = webhook_outbox(state_dir, down, 4)
    outbox.close()  # an empty outbox, checkpointed: the baseline
    await sender.aclose()
    base_db, base_wal = db_bytes(state_dir)
    outbox, sender = webhook_outbox(state_dir, down, 4)
    try:
        open_db, open_wal = db_bytes(state_dir)
        stop = asyncio.Event()
        runner = asyncio.create_task(outbox.run(stop))  # attempts fail and are rescheduled, as in the daemon
        now = time.time()
        body_len = len(notification_to_json(notification(0, now)))
        for i in range(n):
            outbox.enqueue(notification(i, now))
            if i % 100 == 0:
                await asyncio.sleep(0)
        await asyncio.sleep(1.0)
        stop.set()
        await runner
        pending = len(outbox.pending())
        attempted = sum(1 for e in outbox.pending() if e.attempts)
        live_db, live_wal = db_bytes(state_dir)
    finally:
        outbox.close()  # the last connection checkpoints the WAL into the db and removes it
        await sender.aclose()
    closed_db, closed_wal = db_bytes(state_dir)
    shutil.rmtree(state_dir, ignore_errors=True)
    print(
        f"### Outbox on disk, {n} pending notifications (receiver down; "
        f"{attempted} of them attempted at least once), one alert each, stored JSON {body_len} bytes\n"
    )
    print("| measured | tripwired.db bytes | -wal bytes | growth over empty outbox | bytes per pending |")
    print("|---|---|---|---|---|")
    growth_live = live_db + live_wal - base_db - base_wal
    growth_closed = closed_db + closed_wal - base_db - base_wal
    print(f"| empty outbox (schema only, closed) | {base_db} | {base_wal} | 0 | - |")
    print(f"| empty outbox, open | {open_db} | {open_wal} | {open_db + open_wal - base_db - base_wal} | - |")
    print(f"| running, {pending} pending | {live_db} | {live_wal} | {growth_live} | {growth_live / n:.0f} |")
    print(
        f"| after close (WAL checkpointed) | {closed_db} | {closed_wal} | {growth_closed} | {growth_closed / n:.0f} |"
    )
    print()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 32])
    parser.add_argument("--only", choices=["latency", "throughput", "size"])
    args = parser.parse_args()
    # The outbox logs every retry at info; only the tables are wanted here.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n")
    if args.only in (None, "latency"):
        firing_latency(args.trials, args.warmup)
    if args.only in (None, "throughput"):
        throughput(args.n, args.concurrency)
    if args.only in (None, "size"):
        asyncio.run(pending_size(args.n))


if __name__ == "__main__":
    main()
