"""tripwired against the stack it replaces (node_exporter + Prometheus + Alertmanager), side by side.

1. Time to detect and notify, the same fault seen by both, one webhook receiver for both:
   (a) a textfile-collector value crosses a threshold (node_exporter's textfile collector for
   the stack, tripwired's own, watched and polled); (b) a Kafka topic stops receiving messages
   (Prometheus scrapes tripwired's Kafka metrics). Tuned stack (1 s scrape/evaluation,
   group_wait 0) and both on defaults. Resolve times for the tuned runs.
2. Resources: RSS and CPU seconds per minute, tripwired (host + textfile + Kafka + warehouse
   collectors, agent/packs/*.yaml) against node_exporter + Prometheus + Alertmanager with the same
   rules, at 1 s and 10 s intervals.
3. Scale (full mode only): runs bench.exposition_scale, bench.rules_eval, bench.kafka_scale.

Run: .venv/bin/python -m bench.stack_compare [--quick] [--repeats N]
Full mode writes bench/RESULTS-stack.md (merged by hand into bench/RESULTS.md) and bench/plots/stack_*.png.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.common import cpu_seconds, free_port, rss_mb, tripwired_command, wait_http

ROOT = Path(__file__).resolve().parent.parent
PLOTS = ROOT / "bench" / "plots"
RESULTS = ROOT / "bench" / "RESULTS-stack.md"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"

TEXTFILE_THRESHOLD = 100
KAFKA_STALE_TUNED_S = 5  # `time() - newest record > T`; above the stack's normal staleness at 1 s (~3 s)
KAFKA_STALE_DEFAULTS_S = 150  # at 1 m scrape + 1 m evaluation the stack's normal staleness reaches ~130 s


# --- one webhook receiver for everybody ------------------------------------------------------------


@dataclass
class Arrival:
    t: float
    source: str  # the URL path: /tripwired, /tripwired-polled, /alertmanager
    status: str  # per alert: firing / resolved
    labels: dict[str, str]


class Receiver:
    """A local HTTP server that timestamps every webhook notification on arrival."""

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                t = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.end_headers()
                try:
                    payload = json.loads(body)
                except ValueError:
                    return
                with receiver.cond:
                    for alert in payload.get("alerts", []):
                        receiver.arrivals.append(
                            Arrival(t, self.path.strip("/"), alert.get("status", ""), alert.get("labels", {}))
                        )
                    receiver.cond.notify_all()

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, source: str) -> str:
        return f"http://127.0.0.1:{self.port}/{source}"

    def wait(self, source: str, status: str, match: dict[str, str], after: float, timeout: float) -> float | None:
        """Arrival time of the first notification from `source` with this status and these labels."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for a in self.arrivals:
                    if (
                        a.source == source
                        and a.status == status
                        and a.t >= after
                        and all(a.labels.get(k) == v for k, v in match.items())
                    ):
                        return a.t
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.5))

    def close(self) -> None:
        self.server.shutdown()


# --- processes -------------------------------------------------------------------------------------


class Procs:
    """Started processes by name; all stopped on exit."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        # The child gets its own copy of the descriptor, so ours can be closed at once.
        with open(self.work / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.work)
        self.procs[name] = proc
        return proc

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


def yaml_list(items: list[str]) -> str:
    return json.dumps(items)


def tripwired_config(
    path: Path,
    *,
    interval: str | None,
    webhook: str,
    rule_files: list[str],
    state: Path,
    textfile: Path | None = None,
    watch: bool = True,
    kafka: str | None = None,
    kafka_topics: str = "bench-.*",
    kafka_groups: list[str] | None = None,
    host: bool = True,
    warehouse: Path | None = None,
    tuned_route: bool = True,
) -> None:
    lines = []
    if interval:
        lines.append(f"global: {{interval: {interval}, evaluation_interval: {interval}}}")
    lines.append(f"state_dir: {state}")
    lines.append("collectors:")
    lines.append(f"  host: {{enabled: {'true' if host else 'false'}}}")
    if textfile is not None:
        lines.append(f"  textfile: {{directory: {textfile}, watch: {'true' if watch else 'false'}}}")
    if kafka:
        groups = yaml_list(kafka_groups if kafka_groups is not None else [])
        lines.append(
            f"  kafka: [{{name: bench, bootstrap_servers: '{kafka}', "
            f"topics: {{include: ['{kafka_topics}'], exclude: ['__.*']}}, groups: {{include: {groups}}}}}]"
        )
    if warehouse is not None:
        lines.append(f"  warehouse: [{{name: lake, paths: ['{warehouse}'], scan: {{interval: 1m}}}}]")
    lines.append(f"rule_files: {yaml_list(rule_files)}")
    route = "{receiver: hook, group_by: ['...']"
    route += ", group_wait: 0s, group_interval: 1s}" if tuned_route else "}"
    lines.append(f"route: {route}")
    lines.append(f"receivers: [{{name: hook, webhook_configs: [{{url: '{webhook}'}}]}}]")
    path.write_text("\n".join(lines) + "\n")


def start_tripwired(procs: Procs, name: str, config: Path) -> str:
    port = free_port()
    procs.start(name, tripwired_command(config, port))
    return f"127.0.0.1:{port}"


def start_node_exporter(procs: Procs, textfile: Path) -> str:
    port = free_port()
    procs.start(
        "node_exporter",
        [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}", f"--collector.textfile.directory={textfile}"],
    )
    return f"127.0.0.1:{port}"


def start_prometheus(
    procs: Procs,
    work: Path,
    *,
    interval: str | None,
    rule_files: list[str],
    node: str,
    kafka_exporter: str | None,
    alertmanager: str,
) -> str:
    port = free_port()
    glob_ = f"  scrape_interval: {interval}\n  evaluation_interval: {interval}\n" if interval else ""
    config = (
        f"global:\n{glob_}  scrape_timeout: {'1s' if interval == '1s' else '10s'}\n"
        f"rule_files: {yaml_list(rule_files)}\n"
        f"alerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['{alertmanager}']}}]\n"
        f"scrape_configs:\n  - job_name: node\n    static_configs: [{{targets: ['{node}']}}]\n"
    )
    if kafka_exporter:
        # only the Kafka families: tripwired's textfile series must not reach the stack
        config += (
            f"  - job_name: kafka\n    static_configs: [{{targets: ['{kafka_exporter}']}}]\n"
            "    metric_relabel_configs:\n"
            "      - {source_labels: [__name__], regex: 'kafka_.*', action: keep}\n"
        )
    (work / "prometheus.yml").write_text(config)
    (work / "prom-data").mkdir(exist_ok=True)
    procs.start(
        "prometheus",
        [
            PROMETHEUS,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
    )
    return f"127.0.0.1:{port}"


def start_alertmanager(procs: Procs, work: Path, *, tuned: bool, webhook: str) -> str:
    port = free_port()
    timing = ", group_wait: 0s, group_interval: 1s" if tuned else ""
    (work / "alertmanager.yml").write_text(
        f"route: {{receiver: hook, group_by: ['...']{timing}}}\n"
        f"receivers: [{{name: hook, webhook_configs: [{{url: '{webhook}', send_resolved: true}}]}}]\n"
    )
    (work / "am-data").mkdir(exist_ok=True)
    procs.start(
        "alertmanager",
        [
            ALERTMANAGER,
            f"--config.file={work / 'alertmanager.yml'}",
            f"--storage.path={work / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
    )
    return f"127.0.0.1:{port}"


def bench_rules(path: Path, stale_s: int) -> None:
    path.write_text(f"""groups:
  - name: bench
    rules:
      - alert: BenchTextfileHigh
        expr: bench_textfile_value > {TEXTFILE_THRESHOLD}
      - alert: BenchTopicStopped
        expr: time() - max by (topic) (kafka_topic_partition_max_timestamp_seconds{{topic=~"bench-.*"}}) > {stale_s}
""")


def write_prom(directory: Path, run: str, value: float) -> float:
    """Replace bench.prom atomically; the time of the rename."""
    tmp = directory / ".bench.prom.tmp"
    tmp.write_text(f'# TYPE bench_textfile_value gauge\nbench_textfile_value{{run="{run}"}} {value}\n')
    os.replace(tmp, directory / "bench.prom")
    return time.time()


# --- Kafka -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def kafka_broker() -> Iterator[str]:
    sys.path.insert(0, str(ROOT / "scripts"))
    import kafka_broker as kb  # scripts/ is not a package

    with kb.running_broker() as broker:
        yield broker.bootstrap_servers


class Producer:
    """Produces one record every `period` seconds to a topic until stopped; remembers the last one."""

    def __init__(self, bootstrap: str, topic: str, period: float = 0.1) -> None:
        from confluent_kafka import Producer as KProducer

        self.producer = KProducer({"bootstrap.servers": bootstrap, "linger.ms": 0, "log_level": 2})
        self.topic = topic
        self.period = period
        self.last = 0.0
        self.count = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.last = time.time()
            self.producer.produce(self.topic, value=b"x")
            self.count += 1
            self.producer.poll(0)
            self._stop.wait(self.period)

    def stop(self) -> float:
        """Stop producing; the time of the last record (its CreateTime)."""
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.producer.flush(10)
        return self.last


def create_topic(bootstrap: str, topic: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 2})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(30)


def delete_topic(bootstrap: str, topic: str) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 2})
    for future in admin.delete_topics([topic]).values():
        with contextlib.suppress(Exception):
            future.result(30)


# --- detection -------------------------------------------------------------------------------------


@dataclass
class Detection:
    """Seconds from fault (and from fault + rule threshold) to webhook, per source."""

    fire: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    resolve: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    missed: dict[str, int] = field(default_factory=lambda: collections.defaultdict(int))
    offset_s: float = 0.0  # the rule's own threshold in time (Kafka: T), subtracted in "beyond" columns


def detection_run(
    *, tuned: bool, repeats: int, bootstrap: str | None, work: Path, receiver: Receiver, log: list[str]
) -> dict[str, Detection]:
    """Start both systems, inject the faults `repeats` times, return latencies per scenario."""
    label = "tuned" if tuned else "defaults"
    work = work / f"detect-{label}"
    work.mkdir()
    textfile = work / "textfile"
    textfile.mkdir()
    stale = KAFKA_STALE_TUNED_S if tuned else KAFKA_STALE_DEFAULTS_S
    rules = work / "bench-rules.yaml"
    bench_rules(rules, stale)
    write_prom(textfile, "init", 0)
    interval = "1s" if tuned else None
    procs = Procs(work)
    sources = ["tripwired", "alertmanager"] + (["tripwired-polled"] if tuned else [])
    try:
        config = work / "tripwired.yaml"
        tripwired_config(
            config,
            interval=interval,
            webhook=receiver.url("tripwired"),
            rule_files=[str(rules)],
            state=work / "state",
            textfile=textfile,
            watch=True,
            kafka=bootstrap,
            tuned_route=tuned,
        )
        tw = start_tripwired(procs, "tripwired", config)
        if tuned:
            polled = work / "tripwired-polled.yaml"
            tripwired_config(
                polled,
                interval=interval,
                webhook=receiver.url("tripwired-polled"),
                rule_files=[str(rules)],
                state=work / "state-polled",
                textfile=textfile,
                watch=False,
                host=False,
                tuned_route=True,
            )
            start_tripwired(procs, "tripwired-polled", polled)
        node = start_node_exporter(procs, textfile)
        am = start_alertmanager(procs, work, tuned=tuned, webhook=receiver.url("alertmanager"))
        prom = start_prometheus(
            procs,
            work,
            interval=interval,
            rule_files=[str(rules)],
            node=node,
            kafka_exporter=tw if bootstrap else None,
            alertmanager=am,
        )
        for url in (f"http://{tw}/-/ready", f"http://{node}/metrics", f"http://{prom}/-/ready", f"http://{am}/-/ready"):
            wait_http(url, 60)
        time.sleep(3)
        results = {"textfile": Detection(), "kafka": Detection(offset_s=stale)}
        timeout = 30.0 if tuned else 400.0
        for i in range(repeats):
            run = f"{label}-{i}"
            topic = f"bench-{label}-{i}"
            producer = None
            if bootstrap:
                create_topic(bootstrap, topic)
                producer = Producer(bootstrap, topic)
                producer.start()
            write_prom(textfile, run, 0)
            time.sleep(3.0)  # both systems see the value under the threshold and the topic flowing
            time.sleep(random.uniform(0, 1))  # a fault at a random phase of both systems' 1 s cycles
            t_text = write_prom(textfile, run, 1000)
            t_kafka = producer.stop() if producer else 0.0
            if not tuned:  # a defaults repeat waits minutes: run the two faults concurrently
                waits = [("textfile", t_text, {"run": run}, "BenchTextfileHigh")]
                if producer:
                    waits.append(("kafka", t_kafka, {"topic": topic}, "BenchTopicStopped"))
                _collect(receiver, results, waits, sources, timeout, "firing")
            else:
                _collect(
                    receiver,
                    results,
                    [("textfile", t_text, {"run": run}, "BenchTextfileHigh")],
                    sources,
                    timeout,
                    "firing",
                )
                t_back = write_prom(textfile, run, 0)
                _collect(
                    receiver,
                    results,
                    [("textfile", t_back, {"run": run}, "BenchTextfileHigh")],
                    sources,
                    timeout,
                    "resolved",
                )
                if producer:
                    _collect(
                        receiver,
                        results,
                        [("kafka", t_kafka, {"topic": topic}, "BenchTopicStopped")],
                        sources,
                        timeout,
                        "firing",
                    )
                    producer.start()
                    time.sleep(0.05)
                    t_flow = producer.last
                    _collect(
                        receiver,
                        results,
                        [("kafka", t_flow, {"topic": topic}, "BenchTopicStopped")],
                        sources,
                        timeout,
                        "resolved",
                    )
                    producer.stop()
            if bootstrap:
                delete_topic(bootstrap, topic)
            line = f"{label} repeat {i + 1}/{repeats}: " + "; ".join(
                f"{scenario} " + ", ".join(f"{s} {d.fire[s][-1]:.2f}s" for s in sources if d.fire.get(s))
                for scenario, d in results.items()
            )
            print(line, file=sys.stderr, flush=True)
            log.append(line)
        return results
    finally:
        procs.stop_all()


def _collect(
    receiver: Receiver,
    results: dict[str, Detection],
    waits: list[tuple[str, float, dict[str, str], str]],
    sources: list[str],
    timeout: float,
    status: str,
) -> None:
    for scenario, t0, match, alertname in waits:
        for source in sources:
            if scenario == "kafka" and source == "tripwired-polled":
                continue
            arrived = receiver.wait(source, status, {**match, "alertname": alertname}, t0, timeout)
            target = results[scenario].fire if status == "firing" else results[scenario].resolve
            if arrived is None:
                results[scenario].missed[f"{source} {status}"] += 1
            else:
                target[source].append(arrived - t0)


# --- resources -------------------------------------------------------------------------------------


@dataclass
class Usage:
    rss_mb: float
    peak_mb: float
    cpu_per_min: float


def peak_mb(pid: int) -> float:
    """Peak RSS of a process and its children (tripwired's Kafka collector runs in one), each its own peak."""
    return rss_mb(pid, field="VmHWM")


def resources_run(
    *, interval: str, seconds: float, bootstrap: str | None, work: Path, receiver: Receiver, profile: Path | None
) -> dict[str, Usage]:
    """tripwired doing the whole job beside node_exporter + Prometheus + Alertmanager doing it."""
    work = work / f"resources-{interval}"
    work.mkdir()
    textfile = work / "textfile"
    textfile.mkdir()
    write_prom(textfile, "steady", 1)
    warehouse = work / "lake"
    for d in range(20):
        (warehouse / f"day={d:02d}").mkdir(parents=True)
        for f in range(50):
            (warehouse / f"day={d:02d}" / f"part-{f}.parquet").write_bytes(b"x" * 1024)
    rules = sorted(str(p) for p in (ROOT / "agent" / "packs").glob("*.yaml"))
    procs = Procs(work)
    producer = None
    try:
        config = work / "tripwired.yaml"
        tripwired_config(
            config,
            interval=interval,
            webhook=receiver.url("res-tripwired"),
            rule_files=rules,
            state=work / "state",
            textfile=textfile,
            kafka=bootstrap,
            kafka_topics=".*",
            kafka_groups=[".*"],
            warehouse=warehouse,
        )
        tw = start_tripwired(procs, "tripwired", config)
        exporter = None
        if bootstrap:  # the stack's Kafka exporter: tripwired with only its Kafka collector
            exp_config = work / "kafka-exporter.yaml"
            tripwired_config(
                exp_config,
                interval=interval,
                webhook=receiver.url("res-exporter"),
                rule_files=[],
                state=work / "state-exp",
                kafka=bootstrap,
                kafka_topics=".*",
                kafka_groups=[".*"],
                host=False,
            )
            exporter = start_tripwired(procs, "kafka-exporter", exp_config)
        node = start_node_exporter(procs, textfile)
        am = start_alertmanager(procs, work, tuned=True, webhook=receiver.url("res-alertmanager"))
        prom = start_prometheus(
            procs, work, interval=interval, rule_files=rules, node=node, kafka_exporter=exporter, alertmanager=am
        )
        for url in (f"http://{tw}/-/ready", f"http://{node}/metrics", f"http://{prom}/-/ready", f"http://{am}/-/ready"):
            wait_http(url, 60)
        if exporter:
            wait_http(f"http://{exporter}/-/ready", 60)
        if bootstrap:
            create_topic(bootstrap, f"res-{interval}")
            producer = Producer(bootstrap, f"res-{interval}", period=0.1)
            producer.start()
        time.sleep(5)  # warm-up: imports, first collections, first evaluations
        pids = {name: p.pid for name, p in procs.procs.items()}
        spy = None
        if profile is not None:
            spy = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "--pid",
                    str(pids["tripwired"]),
                    "--duration",
                    str(int(seconds)),
                    "--rate",
                    "250",
                    "--nonblocking",
                    "--threads",
                    "--format",
                    "raw",
                    "-o",
                    str(profile),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        cpu0 = {n: cpu_seconds(p) for n, p in pids.items()}
        t0 = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        usage = {n: Usage(rss_mb(p), peak_mb(p), (cpu_seconds(p) - cpu0[n]) * 60 / elapsed) for n, p in pids.items()}
        if spy is not None:
            spy.wait(60)
        return usage
    finally:
        if producer:
            producer.stop()
        procs.stop_all()


def profile_summary(raw: Path, top: int = 12) -> list[tuple[str, float, float]]:
    """(function, inclusive %, self %) from py-spy's collapsed stacks, tripwired's own code first."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        frames = [
            f.split(" (")[0]
            + " ("
            + f.split(" (")[1].split(":")[0].split("/site-packages/")[-1].split("/main/")[-1]
            + ")"
            if " (" in f
            else f
            for f in stack.split(";")[1:]
        ]  # drop the thread frame
        if not frames:
            continue
        if (
            frames[-1].startswith(
                ("select ", "poll ", "epoll_wait", "wait ", "_worker ", "run_forever", "WorkerThread.run ")
            )
            or "selectors.py" in frames[-1]
            or "threading.py" in frames[-1]
        ):
            continue  # idle threads and an idle event loop are not work
        total += count
        for f in set(frames):
            inclusive[f] += count
        own[frames[-1]] += count
    if not total:
        return []
    rows = [
        (f, 100 * c / total, 100 * own[f] / total)
        for f, c in inclusive.most_common(80)
        if "threading.py" not in f and "asyncio/" not in f
    ]
    return [(f"{total} busy samples", 100.0, 0.0), *rows[:top]]


# --- report ----------------------------------------------------------------------------------------


def stats(values: list[float]) -> str:
    if not values:
        return "— | — | — | 0"
    return f"{min(values):.2f} | {statistics.median(values):.2f} | {max(values):.2f} | {len(values)}"


SOURCE_NAMES = {
    "tripwired": "tripwired (textfile watched)",
    "tripwired-polled": "tripwired (textfile polled)",
    "alertmanager": "node_exporter/Prometheus/Alertmanager",
}


def detection_table(label: str, results: dict[str, Detection], scenario_desc: dict[str, str]) -> list[str]:
    out = [
        "| scenario | system | fault → notification: min | median | max s | n | resolve → notification: "
        "min | median | max s | n |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario, det in results.items():
        for source in ("tripwired", "tripwired-polled", "alertmanager"):
            if source not in det.fire and not det.missed.get(f"{source} firing"):
                continue
            name = SOURCE_NAMES[source]
            if scenario == "kafka":
                name = "tripwired" if source == "tripwired" else "Prometheus (scraping tripwired) + Alertmanager"
            out.append(
                f"| {scenario_desc[scenario]} ({label}) | {name} | {stats(det.fire.get(source, []))} "
                f"| {stats(det.resolve.get(source, []))} |"
            )
    missed = {f"{scenario} {k}": v for scenario, det in results.items() for k, v in det.missed.items() if v}
    if missed:
        out.append("")
        out.append("Not received within the timeout: " + ", ".join(f"{k}: {v}" for k, v in missed.items()))
    return out


def resources_table(runs: dict[str, dict[str, Usage]], seconds: float) -> list[str]:
    out = [
        f"| interval | process | RSS MB (after {seconds:.0f} s) | peak RSS MB | CPU s/min |",
        "|---|---|---|---|---|",
    ]
    for interval, usage in runs.items():
        stack = [n for n in ("node_exporter", "prometheus", "alertmanager") if n in usage]
        for n in ["tripwired", *stack]:
            u = usage[n]
            out.append(f"| {interval} | {n} | {u.rss_mb:.1f} | {u.peak_mb:.1f} | {u.cpu_per_min:.2f} |")
        rss = sum(usage[n].rss_mb for n in stack)
        peak = sum(usage[n].peak_mb for n in stack)
        cpu = sum(usage[n].cpu_per_min for n in stack)
        out.append(
            f"| {interval} | **stack sum** (node_exporter + Prometheus + Alertmanager) | {rss:.1f} | {peak:.1f} "
            f"| {cpu:.2f} |"
        )
        if "kafka-exporter" in usage:
            u = usage["kafka-exporter"]
            out.append(
                f"| {interval} | (stack's Kafka exporter: tripwired, Kafka collector only; not in the sum) "
                f"| {u.rss_mb:.1f} | {u.peak_mb:.1f} | {u.cpu_per_min:.2f} |"
            )
        tw = usage["tripwired"]
        if "kafka-exporter" in usage:
            u = usage["kafka-exporter"]
            out.append(
                f"| {interval} | stack sum + Kafka exporter stand-in | {rss + u.rss_mb:.1f} "
                f"| {peak + u.peak_mb:.1f} | {cpu + u.cpu_per_min:.2f} |"
            )
            out.append(
                f"| {interval} | ratio tripwired / (stack sum + Kafka exporter stand-in) "
                f"| {tw.rss_mb / (rss + u.rss_mb):.2f} | {tw.peak_mb / (peak + u.peak_mb):.2f} "
                f"| {tw.cpu_per_min / (cpu + u.cpu_per_min):.2f} |"
            )
        out.append(
            f"| {interval} | **ratio tripwired / stack sum** | {tw.rss_mb / rss:.2f} | {tw.peak_mb / peak:.2f} "
            f"| {tw.cpu_per_min / cpu:.2f} |"
        )
    return out


def plot(results: dict[str, dict[str, Detection]], runs: dict[str, dict[str, Usage]]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    PLOTS.mkdir(parents=True, exist_ok=True)
    written = []
    for label, res in results.items():
        panels = [(s, k, d) for s, d in res.items() for k in ("fire", "resolve") if any(getattr(d, k).values())]
        if not panels:
            continue
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), squeeze=False)
        for ax, (scenario, kind, det) in zip(axes[0], panels, strict=True):
            data = getattr(det, kind)
            names = [s for s in ("tripwired", "tripwired-polled", "alertmanager") if data.get(s)]
            values = [data[s] for s in names]
            ax.boxplot(values, whis=(0, 100))
            for j, v in enumerate(values, 1):
                ax.scatter([j] * len(v), v, s=12, alpha=0.6)
            ax.set_xticks(
                range(1, len(names) + 1),
                [
                    {
                        "tripwired": "tripwired",
                        "tripwired-polled": "tripwired\n(polled)",
                        "alertmanager": "Prometheus +\nAlertmanager",
                    }[n]
                    for n in names
                ],
                fontsize=8,
            )
            ax.set_ylabel("seconds")
            if label == "defaults":
                ax.set_yscale("log")
            what = "fault → firing" if kind == "fire" else "recovery → resolved"
            ax.set_title(f"{scenario}: {what} ({label})", fontsize=9)
        fig.tight_layout()
        path = PLOTS / f"stack_detection_{label}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    if runs:
        fig, axes = plt.subplots(1, 2, figsize=(9, 4))
        stack_names = ("node_exporter", "prometheus", "alertmanager")
        for ax, metric, unit in ((axes[0], "rss_mb", "RSS MB"), (axes[1], "cpu_per_min", "CPU s / min")):
            xs = list(runs)
            bottoms = [0.0] * len(xs)
            for n in stack_names:
                vals = [getattr(runs[x][n], metric) for x in xs]
                ax.bar([i + 0.2 for i in range(len(xs))], vals, 0.4, bottom=bottoms, label=n)
                bottoms = [b + v for b, v in zip(bottoms, vals, strict=True)]
            ax.bar(
                [i - 0.2 for i in range(len(xs))],
                [getattr(runs[x]["tripwired"], metric) for x in xs],
                0.4,
                label="tripwired",
                color="black",
            )
            ax.set_xticks(range(len(xs)), [f"{x} interval" for x in xs])
            ax.set_ylabel(unit)
        axes[0].legend(fontsize=8)
        fig.suptitle("tripwired (left bars) vs node_exporter + Prometheus + Alertmanager (stacked)", fontsize=9)
        fig.tight_layout()
        path = PLOTS / "stack_resources.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def run_module(args: list[str], timeout: float) -> str:
    started = time.monotonic()
    try:
        out = subprocess.run(
            [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
        text = out.stdout.strip() + (
            ""
            if out.returncode == 0
            else f"\n\n(exit {out.returncode}: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ''})"
        )
    except subprocess.TimeoutExpired:
        text = f"(stopped after {timeout:.0f} s)"
    return f"`.venv/bin/python {' '.join(args)}` ({time.monotonic() - started:.0f} s)\n\n{text}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="under 2 minutes: tuned detection and 1 s resources only")
    parser.add_argument("--repeats", type=int, default=None, help="tuned repeats (default 10, quick 3)")
    parser.add_argument(
        "--defaults-repeats", type=int, default=5, help="repeats with both on defaults (about 4 minutes each)"
    )
    parser.add_argument("--seconds", type=float, default=None, help="each resources run (default 60, quick 25)")
    parser.add_argument("--kafka-largest", type=int, default=1000, help="bench.kafka_scale --largest (full mode)")
    parser.add_argument("--no-kafka", action="store_true", help="skip everything that needs a Kafka broker")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 10)
    seconds = args.seconds or (25.0 if args.quick else 60.0)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="tripwired-stack-"))
    receiver = Receiver()
    log: list[str] = []
    detections: dict[str, dict[str, Detection]] = {}
    runs: dict[str, dict[str, Usage]] = {}
    profile = None if args.quick else work / "tripwired-1s.pyspy"
    profile10 = work / "tripwired-10s.pyspy"
    timings: dict[str, float] = {}
    try:
        with contextlib.ExitStack() as stack:
            bootstrap = None if args.no_kafka else stack.enter_context(kafka_broker())
            t = time.monotonic()
            detections["tuned"] = detection_run(
                tuned=True, repeats=repeats, bootstrap=bootstrap, work=work, receiver=receiver, log=log
            )
            timings["detection, tuned"] = time.monotonic() - t
            t = time.monotonic()
            runs["1s"] = resources_run(
                interval="1s", seconds=seconds, bootstrap=bootstrap, work=work, receiver=receiver, profile=profile
            )
            timings["resources, 1 s"] = time.monotonic() - t
            if not args.quick:
                t = time.monotonic()
                runs["10s"] = resources_run(
                    interval="10s",
                    seconds=seconds,
                    bootstrap=bootstrap,
                    work=work,
                    receiver=receiver,
                    profile=profile10,
                )
                timings["resources, 10 s"] = time.monotonic() - t
                t = time.monotonic()
                detections["defaults"] = detection_run(
                    tuned=False,
                    repeats=args.defaults_repeats,
                    bootstrap=bootstrap,
                    work=work,
                    receiver=receiver,
                    log=log,
                )
                timings["detection, defaults"] = time.monotonic() - t
        scale = []
        if not args.quick:
            t = time.monotonic()
            scale.append(run_module(["-m", "bench.exposition_scale"], 600))
            scale.append(run_module(["-m", "bench.rules_eval"], 900))
            if not args.no_kafka:
                scale.append(run_module(["-m", "bench.kafka_scale", f"--largest={args.kafka_largest}"], 1200))
            timings["scale"] = time.monotonic() - t
    finally:
        receiver.close()
    profiles = {"1 s": profile, "10 s": profile10}
    report(args, repeats, seconds, detections, runs, profiles, scale, log, timings, time.monotonic() - started)
    shutil.rmtree(work, ignore_errors=True)


def report(
    args: argparse.Namespace,
    repeats: int,
    seconds: float,
    detections: dict[str, dict[str, Detection]],
    runs: dict[str, dict[str, Usage]],
    profiles: dict[str, Path | None],
    scale: list[str],
    log: list[str],
    timings: dict[str, float],
    total: float,
) -> None:
    command = (
        ".venv/bin/python -m bench.stack_compare"
        + (" --quick" if args.quick else "")
        + (f" --repeats {args.repeats}" if args.repeats else "")
    )
    desc = {"textfile": "textfile value > threshold", "kafka": f"topic stops (T = {KAFKA_STALE_TUNED_S} s)"}
    lines: list[str] = []
    tuned = detections.get("tuned", {})
    lines += detection_table("tuned: 1 s intervals, group_wait 0", tuned, desc)
    if "defaults" in detections:
        lines.append("")
        lines += detection_table(
            "both on defaults",
            detections["defaults"],
            {**desc, "kafka": f"topic stops (T = {KAFKA_STALE_DEFAULTS_S} s)"},
        )
    if tuned.get("kafka") and tuned["kafka"].fire:
        lines.append("")
        lines.append("Kafka, beyond the rule's threshold T (fault → notification minus T: the detection overhead):")
        lines.append("")
        lines.append("| run | system | min | median | max s | n |")
        lines.append("|---|---|---|---|---|---|")
        for label, res in detections.items():
            det = res.get("kafka")
            if not det:
                continue
            for source, vals in det.fire.items():
                lines.append(f"| {label} | {source} | {stats([v - det.offset_s for v in vals])} |")
    lines.append("")
    lines += resources_table(runs, seconds)
    head = headline(detections, runs)
    table = "\n".join(lines)
    print(table)
    print()
    print(head)
    print(f"\n(total {total:.0f} s: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()) + ")")
    if args.quick:
        return
    prof_lines = []
    for name, profile in profiles.items():
        if profile is None or not profile.exists():
            continue
        prof_lines += [
            "",
            f"| function (tripwired, {name} interval, all collectors, agent/packs/*.yaml; py-spy 250 Hz) "
            "| inclusive % of busy samples | self % |",
            "|---|---|---|",
        ]
        try:
            prof_lines += [f"| `{f}` | {inc:.1f} | {own:.1f} |" for f, inc, own in profile_summary(profile)]
        except Exception as exc:  # a profile that cannot be read must not lose the measurements
            prof_lines.append(f"(profile unreadable: {exc!r})")
    try:
        plots = plot(detections, runs)
    except Exception as exc:
        print(f"plots failed: {exc!r}", file=sys.stderr)
        plots = []
    md = [
        "## tripwired against node_exporter + Prometheus + Alertmanager",
        "",
        f"`{command}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, Debian's prometheus 2.42, prometheus-alertmanager 0.25, "
        f"prometheus-node-exporter 1.5; Kafka broker from scripts/kafka_broker.py. Whole run {total / 60:.1f} min.",
        "",
        "### Detection and notification",
        "",
        f"Both systems run at once and see the same fault; one local webhook receiver timestamps every "
        f"notification. Textfile: `bench.prom` is replaced (rename) with `bench_textfile_value{{run}}` 1000 "
        f"(rule `> {TEXTFILE_THRESHOLD}`), then 0 again for the resolve; the stack reads the directory through "
        f"node_exporter's textfile collector, tripwired through its own, watched (inotify) and, in a second "
        f"tripwired, polled at the interval. Kafka: a producer writes 10 records/s to a fresh topic for 3 s and "
        f"stops; the rule on both is `time() - max by (topic) (kafka_topic_partition_max_timestamp_seconds) > T` "
        f"(T = {KAFKA_STALE_TUNED_S} s tuned, {KAFKA_STALE_DEFAULTS_S} s on defaults: below that the defaults "
        f"stack, scraping every minute, fires on a healthy topic); the fault time is the last record's "
        f"CreateTime; Prometheus scrapes tripwired's /metrics (Kafka families only) for it; the resolve starts "
        f"when the producer starts again. Each fault comes at a random 0-1 s phase. Tuned: Prometheus scrape and "
        f"evaluation 1 s, Alertmanager group_wait 0 s / group_interval 1 s; tripwired interval and "
        f"evaluation_interval 1 s, group_wait 0 s / group_interval 1 s. Defaults: Prometheus 1 m / 1 m, "
        f"Alertmanager group_wait 30 s / group_interval 5 m; tripwired 10 s / 10 s, group_wait 0 s, watch on. "
        f"group_by ['...'] on both (one alert, one group). Defaults: {args.defaults_repeats} repeats, the "
        f"textfile and Kafka faults injected together (each repeat takes ~4 min); resolve not timed (the stack's "
        f"resolved notification waits for group_interval, 5 m).",
        "",
        table.split("\n\n| interval |")[0],
        "",
        "### Resources",
        "",
        "\n".join(resources_table(runs, seconds)),
        "",
        head,
        "",
        "### Where tripwired's CPU goes (py-spy during the resources runs)",
        "",
        "\n".join(prof_lines) or "(no profile)",
        "",
        "### Scale",
        "",
        "\n\n".join(scale),
        "",
        "### Repeats as measured",
        "",
        "```",
        *log,
        "```",
        "",
        "Plots: " + ", ".join(f"`{p.relative_to(ROOT)}`" for p in plots),
    ]
    RESULTS.write_text("\n".join(md) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)} and {', '.join(str(p.relative_to(ROOT)) for p in plots)}")


def headline(detections: dict[str, dict[str, Detection]], runs: dict[str, dict[str, Usage]]) -> str:
    parts = []
    tuned = detections.get("tuned", {})

    def med(det: Detection | None, source: str) -> float | None:
        vals = det.fire.get(source) if det else None
        return statistics.median(vals) if vals else None

    def fmt(v: float | None) -> str:
        return "—" if v is None else f"{v:.2f} s"

    tx = tuned.get("textfile")
    parts.append(
        f"textfile, tuned (median): tripwired watched {fmt(med(tx, 'tripwired'))}, "
        f"polled {fmt(med(tx, 'tripwired-polled'))}, stack {fmt(med(tx, 'alertmanager'))}"
    )
    kf = tuned.get("kafka")
    if kf and kf.fire:
        off = kf.offset_s
        a, b = med(kf, "tripwired"), med(kf, "alertmanager")
        parts.append(
            f"kafka, tuned (median, minus T={off:g} s): tripwired {fmt(a - off if a else None)}, "
            f"stack {fmt(b - off if b else None)}"
        )
    if "defaults" in detections:
        d = detections["defaults"]
        for scenario in ("textfile", "kafka"):
            a, b = med(d.get(scenario), "tripwired"), med(d.get(scenario), "alertmanager")
            if a and b:
                parts.append(f"{scenario}, defaults (median): tripwired {a:.2f} s, stack {b:.2f} s, {b / a:.1f}x")
                off = d[scenario].offset_s
                if off:
                    parts.append(
                        f"{scenario}, defaults (median, minus T={off:g} s): tripwired {a - off:.2f} s, "
                        f"stack {b - off:.2f} s, {(b - off) / (a - off):.1f}x"
                    )
    for interval, usage in runs.items():
        stack = [usage[n] for n in ("node_exporter", "prometheus", "alertmanager")]
        tw = usage["tripwired"]
        rss, cpu = sum(u.rss_mb for u in stack), sum(u.cpu_per_min for u in stack)
        parts.append(
            f"resources @{interval}: RSS tripwired {tw.rss_mb:.1f} MB / stack {rss:.1f} MB = "
            f"{tw.rss_mb / rss:.2f}; CPU {tw.cpu_per_min:.2f} / {cpu:.2f} s/min = {tw.cpu_per_min / cpu:.2f}"
        )
    return "HEADLINE\n" + "\n".join(f"- {p}" for p in parts)


if __name__ == "__main__":
    main()
