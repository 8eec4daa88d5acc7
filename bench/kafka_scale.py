"""Kafka collector at scale: cycle time and CPU at 100 / 1,000 / 10,000 partitions and 10 / 100 / 1,000 groups.

Starts a throwaway broker (scripts/kafka_broker.py), grows it step by step (topics of
PARTITIONS_PER_TOPIC partitions, one record in each partition, consumer groups that each
committed offset 0 on one partition), and at each size times KafkaCollector.collect() as the
daemon runs it: wall time and CPU seconds of this process (librdkafka's threads included),
median of CYCLES cycles after a warm-up. Each size is read twice: with the groups excluded,
to show what partitions alone cost, and with them. For "the scrape is unaffected" it also
times what a scrape competes with: Store.write of one cycle (the daemon does it on the event
loop that serves /metrics) and Exposition.render, idle and while a cycle runs in a thread.

At the largest size it then runs a real `tripwired run` reading the cluster every 15 s (the
Kafka collector in its child process, host collector off, as kafka_exporter compares) and
reports the RSS of the daemon and its child, their CPU per cycle and the cycle's duration.

Run: .venv/bin/python -m bench.kafka_scale [--largest 10000]
For the daemon's figures alone, again and again while changing code: `--keep` grows the broker to
the largest size and keeps it running (it prints its address); `--bootstrap ADDRESS` then measures
only the real daemon against it.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from agent.clock import SystemClock
from agent.collect.base import read_whatever
from agent.collect.kafka import KafkaCollector
from agent.config.schema import IncludeExclude, KafkaConfig
from agent.export import Exposition
from agent.model import Sample
from agent.runtime.logs import configure_logging
from agent.store import Store
from bench.common import (
    cpu_seconds,
    free_port,
    process_tree,
    pss_mb,
    rss_mb,
    tripwired_command,
    unique_rss_mb,
    wait_http,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import kafka_broker  # scripts/ is not a package

SIZES = ((100, 10), (1_000, 100), (10_000, 1_000))  # (partitions, consumer groups)
PARTITIONS_PER_TOPIC = 10
CYCLES = 3
TOPIC_BATCH = 50  # topics per CreateTopics request
IN_FLIGHT = 100  # concurrent OffsetCommit requests while creating groups
COMMIT_ATTEMPTS = 10
ADMIN_TIMEOUT = 120.0
FILL_BUDGET_SECONDS = 900.0  # generous: creating thousands of partitions on 2 cores is slow


@dataclass
class Row:
    partitions: int
    groups: int
    cycle_s: float
    cpu_s: float
    samples: int
    errors: int
    partitions_seen: int
    groups_seen: int
    write_s: float
    render_idle_s: float
    render_busy_s: list[float]


def topic_name(index: int) -> str:
    return f"bench-{index:05d}"


def group_name(index: int) -> str:
    return f"bench-group-{index:05d}"


def settle(futures: Sequence[Future[Any]], what: str) -> None:
    """Wait for every answer; stop the benchmark on the first failure (a half-built size measures nothing)."""
    done, pending = wait(futures, timeout=ADMIN_TIMEOUT)
    if pending:
        raise RuntimeError(f"{what}: {len(pending)} requests unanswered after {ADMIN_TIMEOUT:g}s")
    for future in done:
        future.result()


def grow_topics(admin: AdminClient, have: int, want: int) -> None:
    """Create topics `have`..`want`-1, TOPIC_BATCH per request."""
    for start in range(have, want, TOPIC_BATCH):
        batch = [NewTopic(topic_name(i), PARTITIONS_PER_TOPIC, 1) for i in range(start, min(want, start + TOPIC_BATCH))]
        futures = admin.create_topics(batch, operation_timeout=ADMIN_TIMEOUT, request_timeout=ADMIN_TIMEOUT)
        settle(list(futures.values()), "create_topics")


def fill_partitions(bootstrap: str, admin: AdminClient, have: int, want: int) -> None:
    """One record in every partition of the new topics, each delivery confirmed, then every end offset checked.

    A producer's flush() returning 0 only means nothing is queued any more: a record refused
    (a partition without a leader yet: a single broker creating thousands takes minutes) leaves
    the queue too. So the partitions' leaders are waited for, every delivery report is read,
    refused partitions are written again, and at the end list_offsets must show each partition
    at end offset 1 or more: an empty partition measures less.
    """
    wait_for_leaders(admin, have, want)
    deadline = time.monotonic() + FILL_BUDGET_SECONDS
    missing = [(topic_name(i), p) for i in range(have, want) for p in range(PARTITIONS_PER_TOPIC)]
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "log_level": 2})
    while missing and time.monotonic() < deadline:
        missing = produce_confirmed(producer, missing)
        if missing:
            print(f"{len(missing)} records refused, retrying", file=sys.stderr)
            time.sleep(1.0)
    empty = empty_partitions(admin, have, want, deadline)
    if missing or empty:
        raise RuntimeError(f"partitions left empty: {len(missing)} refused, {len(empty)} at end offset 0")


def wait_for_leaders(admin: AdminClient, have: int, want: int) -> None:
    """Until every partition of topics `have`..`want`-1 has a leader in the cluster's metadata."""
    wanted = {topic_name(i) for i in range(have, want)}
    deadline = time.monotonic() + FILL_BUDGET_SECONDS
    while True:
        topics = admin.list_topics(timeout=ADMIN_TIMEOUT).topics
        leaderless = sum(
            1
            for name in wanted
            for p in (topics[name].partitions.values() if name in topics else [None] * PARTITIONS_PER_TOPIC)
            if p is None or p.leader < 0
        )
        if not leaderless:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{leaderless} partitions still without a leader")
        print(f"{leaderless} partitions without a leader yet", file=sys.stderr)
        time.sleep(2.0)


def produce_confirmed(producer: Producer, partitions: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """Write one record to each partition; those whose delivery report is an error (or missing)."""
    delivered: set[tuple[str, int]] = set()

    def report(error: Any, message: Any) -> None:
        if error is None:
            delivered.add((message.topic(), message.partition()))

    for topic, partition in partitions:
        try:
            producer.produce(topic, value=b"x", partition=partition, on_delivery=report)
        except KafkaException:  # a topic the producer has no metadata for yet: tried again next round
            continue
        except BufferError:  # the local queue is full: let deliveries drain it, then try once more
            producer.flush(ADMIN_TIMEOUT)
            producer.produce(topic, value=b"x", partition=partition, on_delivery=report)
        producer.poll(0)
    producer.flush(ADMIN_TIMEOUT)
    return [key for key in partitions if key not in delivered]


def empty_partitions(admin: AdminClient, have: int, want: int, deadline: float) -> list[TopicPartition]:
    """Partitions of topics `have`..`want`-1 whose end offset is still 0 (or unknown) by the deadline."""
    unknown = [TopicPartition(topic_name(i), p) for i in range(have, want) for p in range(PARTITIONS_PER_TOPIC)]
    while True:
        answers = admin.list_offsets({tp: OffsetSpec.latest() for tp in unknown}, request_timeout=ADMIN_TIMEOUT)
        wait(list(answers.values()), timeout=ADMIN_TIMEOUT)
        unknown = [
            tp for tp, f in answers.items() if not f.done() or f.exception() is not None or f.result().offset < 1
        ]
        if not unknown or time.monotonic() > deadline:
            return unknown
        time.sleep(1.0)


def grow_groups(admin: AdminClient, have: int, want: int, partitions: int) -> None:
    """Groups `have`..`want`-1, each with offset 0 committed on one partition (so a lag of 1).

    A commit to a partition created a moment ago can be refused (UNKNOWN_TOPIC_OR_PARTITION)
    until the coordinator knows it; such a refusal is per partition, not a failed request,
    so it is looked for in the answer and the group tried again.
    """
    missing = list(range(have, want))
    for _ in range(COMMIT_ATTEMPTS):
        missing = [i for chunk in _chunks(missing, IN_FLIGHT) for i in commit_offsets(admin, chunk, partitions)]
        if not missing:
            return
        print(f"{len(missing)} group commits refused, retrying", file=sys.stderr)
        time.sleep(1.0)
    raise RuntimeError(f"{len(missing)} groups could not commit, e.g. {group_name(missing[0])}")


def commit_offsets(admin: AdminClient, indexes: Sequence[int], partitions: int) -> list[int]:
    """Commit the offsets of these groups concurrently; the indexes of those refused."""
    futures: dict[int, Future[Any]] = {}
    for i in indexes:
        index = i % partitions
        tp = TopicPartition(topic_name(index // PARTITIONS_PER_TOPIC), index % PARTITIONS_PER_TOPIC, 0)
        request = [ConsumerGroupTopicPartitions(group_name(i), [tp])]
        futures[i] = admin.alter_consumer_group_offsets(request, request_timeout=ADMIN_TIMEOUT)[group_name(i)]
    wait(futures.values(), timeout=ADMIN_TIMEOUT)
    return [i for i, future in futures.items() if not _committed(future)]


def _committed(future: Future[Any]) -> bool:
    if not future.done() or future.exception() is not None:
        return False
    return all(tp.error is None for tp in future.result().topic_partitions)


def _chunks(items: Sequence[int], size: int) -> list[Sequence[int]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def collector(bootstrap: str, with_groups: bool) -> KafkaCollector:
    config = KafkaConfig(
        name="bench",
        bootstrap_servers=bootstrap,
        topics=IncludeExclude(include=["bench-.*"]),
        groups=IncludeExclude(include=["bench-group-.*"] if with_groups else []),
    )
    return KafkaCollector(config, SystemClock())


def timed_cycles(kafka: KafkaCollector) -> tuple[float, float, Sequence[Sample]]:
    """Median wall and CPU seconds of CYCLES collections after a warm-up one, and the last samples."""
    samples = read_whatever(kafka)  # connects, and seeds the offset history lag_seconds interpolates from
    walls, cpus = [], []
    for _ in range(CYCLES):
        wall, cpu = time.perf_counter(), time.process_time()
        samples = read_whatever(kafka)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), samples


def count(samples: Sequence[Sample], name: str) -> int:
    return sum(1 for s in samples if s.name == name)


def errors_in(samples: Sequence[Sample], before: float) -> int:
    total = sum(s.value for s in samples if s.name == "tripwired_kafka_request_errors_total")
    return int(total - before)


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def renders_during(kafka: KafkaCollector, exposition: Exposition) -> list[float]:
    """Render times of /metrics while one collection runs in a thread, as in the daemon."""
    cycle = threading.Thread(target=read_whatever, args=(kafka,))
    cycle.start()
    times = []
    while cycle.is_alive():
        times.append(timed(exposition.render))
        time.sleep(0.05)
    cycle.join()
    return times or [timed(exposition.render)]


def measure(bootstrap: str, partitions: int, groups: int) -> Row:
    kafka = collector(bootstrap, with_groups=groups > 0)
    cycle_s, cpu_s, samples = timed_cycles(kafka)
    errors = errors_in(samples, 0.0)  # counters since the collector was made: warm-up included
    store = Store()
    store.declare(kafka.metrics())
    t_ms = int(time.time() * 1000)
    write_s = timed(lambda: store.write("collector:kafka:bench", samples, t_ms))
    exposition = Exposition(store)
    exposition.render()  # the first render formats every family; later ones only those that changed
    store.write("collector:kafka:bench", read_whatever(kafka), t_ms + 1000)
    render_idle_s = statistics.median(timed(exposition.render) for _ in range(5))
    return Row(
        partitions, groups, cycle_s, cpu_s, len(samples), errors,
        count(samples, "kafka_topic_partition_current_offset"), count(samples, "kafka_consumergroup_lag"),
        write_s, render_idle_s, renders_during(kafka, exposition),
    )  # fmt: skip


def print_row(row: Row) -> None:
    busy = f"{statistics.median(row.render_busy_s) * 1000:.0f} / {max(row.render_busy_s) * 1000:.0f} ms"
    print(
        f"| {row.partitions:,} | {row.groups:,} | {row.cycle_s:.2f} s | {row.cpu_s:.2f} s | {row.samples:,} "
        f"| {row.partitions_seen:,} / {row.groups_seen:,} | {row.errors} | {row.write_s * 1000:.0f} ms "
        f"| {row.render_idle_s * 1000:.0f} ms | {busy} |",
        flush=True,
    )


DAEMON_INTERVAL = 15
DAEMON_CYCLES = 4


def scraped_value(url: str, line_start: str) -> float | None:
    import httpx

    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return None


def daemon_resources(bootstrap: str) -> str:
    """RSS (daemon + Kafka child), CPU per cycle and cycle time of a real daemon reading the cluster."""
    with tempfile.TemporaryDirectory() as work:
        kafka = {
            "name": "bench",
            "bootstrap_servers": bootstrap,
            "interval": f"{DAEMON_INTERVAL}s",
            "topics": {"include": ["bench-.*"]},
            "groups": {"include": ["bench-group-.*"]},
        }
        config = Path(work) / "config.yaml"
        config.write_text(
            f"state_dir: {work}/state\ncollectors:\n  host: {{enabled: false}}\n  kafka: [{json.dumps(kafka)}]\n"
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        daemon = subprocess.Popen(tripwired_command(config, port, quiet=False), stderr=subprocess.DEVNULL)
        try:
            wait_http(f"{url}/-/ready", timeout=120)
            metadata = 'tripwired_kafka_requests_total{cluster="bench",request="metadata"}'
            while (scraped_value(url, metadata) or 0) < 2:  # the first cycle connects and warms up
                time.sleep(1)
            cpu_before, started = cpu_seconds(daemon.pid), scraped_value(url, metadata) or 0
            samples: list[list[float]] = []  # [daemon, child] RSS, twice a second, across the cycles
            pss: list[float] = []  # both together
            unique: list[float] = []  # both together, each physical page once
            while (scraped_value(url, metadata) or 0) < started + DAEMON_CYCLES:
                tree = process_tree(daemon.pid)[:2]
                samples.append([rss_mb(p, tree=False) for p in tree])
                pss.append(sum(pss_mb(p) for p in tree))
                unique.append(unique_rss_mb(tree) or math.nan)
                time.sleep(0.5)
            cycles = (scraped_value(url, metadata) or 0) - started
            cpu = (cpu_seconds(daemon.pid) - cpu_before) / cycles
            duration = scraped_value(url, 'tripwired_collector_duration_seconds{collector="kafka"')
        finally:
            daemon.terminate()
            daemon.wait(30)
    daemon_mb, child_mb, total_mb = (
        sorted(column) for column in zip(*((d, c, d + c) for d, c in samples), strict=True)
    )
    return (
        f"Daemon at the largest size (interval {DAEMON_INTERVAL}s, {cycles:.0f} cycles, /metrics read twice a second): "
        f"RSS median (max) daemon {statistics.median(daemon_mb):.0f} ({daemon_mb[-1]:.0f}) MB + Kafka child "
        f"{statistics.median(child_mb):.0f} ({child_mb[-1]:.0f}) MB = {statistics.median(total_mb):.0f} "
        f"({total_mb[-1]:.0f}) MB; each page once {statistics.median(unique):.0f} ({max(unique):.0f}) MB "
        f"(PSS {statistics.median(pss):.0f} ({max(pss):.0f}) MB); "
        f"CPU {cpu:.2f} s per cycle (both processes); last cycle {duration or 0:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--largest", type=int, default=10_000, help="stop after this many partitions")
    parser.add_argument("--keep", action="store_true", help="grow to the largest size, then keep the broker up")
    parser.add_argument("--bootstrap", help="measure only the daemon, against a broker a --keep run grew")
    args = parser.parse_args()
    sizes = [(p, g) for p, g in SIZES if p <= args.largest]
    configure_logging("warning", sys.stderr)  # the table alone on stdout
    if args.bootstrap:
        print(daemon_resources(args.bootstrap))
        return
    print(
        f"Kafka {kafka_broker.KAFKA_VERSION}, single broker; {PARTITIONS_PER_TOPIC} partitions per topic; "
        f"median of {CYCLES} cycles\n",
        flush=True,
    )
    print(
        "| partitions | groups | cycle (median) | CPU s / cycle | samples | partitions / groups read "
        "| request errors | store write | render idle | render during a cycle (median / max) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|", flush=True)
    setup: list[str] = []
    with kafka_broker.running_broker() as broker:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers, "log_level": 2})
        topics = groups = 0
        for partitions, group_count in sizes:
            started = time.perf_counter()
            grow_topics(admin, topics, partitions // PARTITIONS_PER_TOPIC)
            fill_partitions(broker.bootstrap_servers, admin, topics, partitions // PARTITIONS_PER_TOPIC)
            grow_groups(admin, groups, group_count, partitions)
            topics, groups = partitions // PARTITIONS_PER_TOPIC, group_count
            setup.append(f"{partitions:,} partitions / {group_count:,} groups: {time.perf_counter() - started:.0f} s")
            if args.keep:
                continue
            for selected in (0, group_count):
                print_row(measure(broker.bootstrap_servers, partitions, selected))
        if args.keep:
            print(f"Broker at {broker.bootstrap_servers} with {topics * PARTITIONS_PER_TOPIC:,} partitions", flush=True)
            threading.Event().wait()
        resources = daemon_resources(broker.bootstrap_servers)
    print("\nSet-up time (growing to each size): " + "; ".join(setup))
    print(resources)


if __name__ == "__main__":
    main()
