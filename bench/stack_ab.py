"""Two trees of tripwired at once, beside node_exporter + Prometheus + Alertmanager: CPU and RSS per window.

bench.stack_compare's resources run, with a second tripwired from another source tree (a `git
worktree add` of the commit to compare with) running at the same time on the same config, so
both see the same machine load. Each window gives CPU seconds per minute of every process (and
the load average); the table gives the median and range over the windows, and RSS at the end.
Run: .venv/bin/python -m bench.stack_ab --base /tmp/base-tree [--interval 10s] [--windows 5] [--seconds 60]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import cpu_seconds, free_port, rss_mb, tripwired_command, wait_http
from bench.stack_compare import (
    ROOT,
    Procs,
    Producer,
    Receiver,
    create_topic,
    kafka_broker,
    start_alertmanager,
    start_node_exporter,
    start_prometheus,
    tripwired_config,
    write_prom,
)

STACK = ("node_exporter", "prometheus", "alertmanager")


def start_tree(procs: Procs, name: str, tree: Path, config: Path) -> str:
    """`tripwired run` with its imports from `tree` (PYTHONPATH first), quiet."""
    port = free_port()
    extra = os.environ.get("PYTHONPATH", "")
    path = os.pathsep.join(p for p in (str(tree), extra) if p)
    procs.start(name, ["env", f"PYTHONPATH={path}", *tripwired_command(config, port)])
    return f"127.0.0.1:{port}"


def lake(directory: Path) -> Path:
    for d in range(20):
        (directory / f"day={d:02d}").mkdir(parents=True)
        for f in range(50):
            (directory / f"day={d:02d}" / f"part-{f}.parquet").write_bytes(b"x" * 1024)
    return directory


def run(args: argparse.Namespace, work: Path, bootstrap: str | None) -> None:
    textfile = work / "textfile"
    textfile.mkdir()
    write_prom(textfile, "steady", 1)
    warehouse = lake(work / "lake")
    rules = sorted(str(p) for p in (ROOT / "agent" / "packs").glob("*.yaml"))
    receiver = Receiver()
    procs = Procs(work)
    producer = None
    trees = {"tripwired (this tree)": ROOT, "tripwired (base)": Path(args.base).resolve()}
    try:
        addresses = []
        for i, (name, tree) in enumerate(trees.items()):
            config = work / f"tripwired-{i}.yaml"
            tripwired_config(
                config,
                interval=args.interval,
                webhook=receiver.url(f"tw{i}"),
                rule_files=rules,
                state=work / f"state-{i}",
                textfile=textfile,
                kafka=bootstrap,
                kafka_topics=".*",
                kafka_groups=[".*"],
                warehouse=warehouse,
            )
            addresses.append(f"http://{start_tree(procs, name, tree, config)}/-/ready")
        node = start_node_exporter(procs, textfile)
        am = start_alertmanager(procs, work, tuned=True, webhook=receiver.url("am"))
        prom = start_prometheus(
            procs, work, interval=args.interval, rule_files=rules, node=node, kafka_exporter=None, alertmanager=am
        )
        for url in (*addresses, f"http://{node}/metrics", f"http://{prom}/-/ready", f"http://{am}/-/ready"):
            wait_http(url, 90)
        if bootstrap:
            topic = f"ab-{work.name}"  # a broker of earlier runs has their topics still
            create_topic(bootstrap, topic)
            producer = Producer(bootstrap, topic, period=0.1)
            producer.start()
        time.sleep(args.warmup)
        pids = {name: p.pid for name, p in procs.procs.items()}
        windows: dict[str, list[float]] = {name: [] for name in pids}
        loads = []
        for _ in range(args.windows):
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            started = time.monotonic()
            time.sleep(args.seconds)
            elapsed = time.monotonic() - started
            for name, pid in pids.items():
                windows[name].append((cpu_seconds(pid) - before[name]) * 60 / elapsed)
            loads.append(os.getloadavg()[0])
        rss = {name: rss_mb(pid) for name, pid in pids.items()}
        windows["stack sum"] = [sum(w) for w in zip(*(windows[n] for n in STACK), strict=True)]
        rss["stack sum"] = sum(rss[n] for n in STACK)
        report(args, windows, rss, loads, list(trees))
    finally:
        if producer:
            producer.stop()
        procs.stop_all()
        receiver.close()


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def report(
    args: argparse.Namespace,
    windows: dict[str, list[float]],
    rss: dict[str, float],
    loads: list[float],
    trees: list[str],
) -> None:
    print(
        f"interval {args.interval}, {args.windows} windows of {args.seconds:.0f} s after {args.warmup:.0f} s; "
        f"load average (1 min) per window: {', '.join(f'{x:.1f}' for x in loads)}"
    )
    print("| process | CPU s/min: median (min-max) | RSS MB at the end |")
    print("|---|---|---|")
    for name in [*trees, *STACK, "stack sum"]:
        print(f"| {name} | {spread(windows[name])} | {rss[name]:.1f} |")
    stack = windows["stack sum"]
    for name in trees:
        ratios = [tw / s for tw, s in zip(windows[name], stack, strict=True) if s > 0]
        print(
            f"| ratio {name} / stack sum | {spread(ratios) if ratios else '—'} | {rss[name] / rss['stack sum']:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the other source tree (its agent/ package is imported)")
    parser.add_argument("--interval", default="10s", help="tripwired's and Prometheus' interval")
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0, help="each window")
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--no-kafka", action="store_true", help="no Kafka broker or collector")
    parser.add_argument("--bootstrap", default=None, help="a running broker's bootstrap servers instead of a new one")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tripwired-ab-"))
    with contextlib.ExitStack() as stack:
        bootstrap = None if args.no_kafka else (args.bootstrap or stack.enter_context(kafka_broker()))
        run(args, work, bootstrap)


if __name__ == "__main__":
    main()
