"""Every collector the agent has, listed explicitly: adding a source adds one entry here."""

from __future__ import annotations

from dataclasses import replace

from agent.clock import Clock
from agent.collect.base import Collector, Scheduled
from agent.config.schema import Config, Duration, KafkaConfig, PromQLCompatSetting, SqlConfig
from agent.model import Labels
from agent.targets import DEFAULT_JOBS, Target, default_instance, make_target


def build_collectors(config: Config, clock: Clock) -> list[Scheduled]:
    """The configured collectors with the interval and timeout each runs at."""
    from agent.collect.process import ProcessCollector

    jobs: list[Scheduled] = [_scheduled(config, ProcessCollector(), None, None, _target(config, "process"))]
    collectors = config.collectors
    if collectors.host.enabled:
        from agent.collect.host import HostCollector

        host = collectors.host
        every, limit = _timing(config, host.interval, host.timeout)
        # A stuck mount must be given up (and marked stuck) within the run, not cut off with it.
        mount_timeout = Duration(min(host.filesystem.mount_timeout, limit / 2))
        host = replace(host, filesystem=replace(host.filesystem, mount_timeout=mount_timeout))
        jobs.append(Scheduled(HostCollector(host), every, limit, _target(config, "host", host.job, host.instance)))
    if collectors.textfile.directory is not None:
        from agent.collect.textfile import TextfileCollector

        textfile = collectors.textfile
        # Prometheus 3 normalizes le/quantile values when it scrapes; reading textfiles is our scrape.
        normalize = config.promql_compat is PromQLCompatSetting.PROMETHEUS_3
        collector = TextfileCollector(textfile, normalize_float_labels=normalize)
        target = _target(config, "textfile", textfile.job, textfile.instance)
        jobs.append(_scheduled(config, collector, textfile.interval, textfile.timeout, target))
    for kafka in collectors.kafka:
        every, limit = _timing(config, kafka.interval, kafka.timeout)
        cluster = (("cluster", kafka.name),)
        target = _target(config, "kafka", kafka.job, kafka.instance, cluster)
        jobs.append(Scheduled(_isolated_kafka(kafka, clock, limit), every, limit, target))
        if kafka.canary.enabled:
            # The probe keeps to its own deadline (canary.timeout < canary.interval); the interval is the backstop.
            canary_every = float(kafka.canary.interval)
            target = _target(config, "kafka_canary", None, kafka.instance, cluster)
            jobs.append(Scheduled(_isolated_canary(kafka, clock, canary_every), canary_every, canary_every, target))
    for warehouse in collectors.warehouse:
        from agent.collect.warehouse import WarehouseDiskCollector, WarehouseScanCollector, scan_runner_timeout

        disk = WarehouseDiskCollector(warehouse, procfs=collectors.host.procfs, sysfs=collectors.host.sysfs)
        named = (("warehouse", warehouse.name),)
        target = _target(config, "warehouse_disk", warehouse.job, warehouse.instance, named)
        jobs.append(_scheduled(config, disk, warehouse.interval, warehouse.timeout, target))
        # The scan keeps to its own budget (scan.timeout) and reports what it saw; the runner's timeout
        # is only the backstop for a scan stuck in one system call.
        scan_every = float(warehouse.scan.interval)
        jobs.append(
            Scheduled(
                WarehouseScanCollector(warehouse, clock),
                scan_every,
                min(scan_runner_timeout(warehouse.scan), scan_every),
                _target(config, "warehouse_scan", None, warehouse.instance, named),
            )
        )
    for database in collectors.sql:
        jobs.extend(_sql_jobs(config, database, clock))
    return jobs


def _sql_jobs(config: Config, database: SqlConfig, clock: Clock) -> list[Scheduled]:
    """One database's table checks as one job, and each of its queries as a job of its own."""
    from agent.collect.sql import SqlQueryCollector, SqlTablesCollector
    from agent.collect.sql_db import Database

    shared = Database(database, clock.monotonic)  # one engine, one connection pool, for all its jobs
    jobs: list[Scheduled] = []
    named = (("database", database.name),)
    if database.tables:
        every, limit = _timing(config, database.interval, database.timeout)
        target = _target(config, "sql", database.job, database.instance, named)
        jobs.append(Scheduled(SqlTablesCollector(database.tables, shared, clock, limit), every, limit, target))
    for query in database.queries:
        every, limit = _timing(config, query.interval or database.interval, query.timeout or database.timeout)
        target = _target(config, "sql_query", database.job, database.instance, (*named, ("query", query.query_name)))
        jobs.append(Scheduled(SqlQueryCollector(query, shared, clock, limit), every, limit, target))
    return jobs


def _isolated_kafka(kafka: KafkaConfig, clock: Clock, limit: float) -> Collector:
    """The Kafka collector of one cluster in a child process of its own: librdkafka may abort or hang.

    The daemon itself then never imports confluent-kafka.
    """
    from agent.collect.isolated import IsolatedCollector, answer_timeout
    from agent.collect.isolation_wire import Hosted
    from agent.collect.kafka_metrics import KAFKA_METRICS, SEEDED_FROM

    # A cycle makes a few requests one after another; each gets a share of the run's timeout, so
    # a broker that is down is reported (kafka_up 0) by the run itself, not cut off by the runner.
    hosted = Hosted(
        "agent.collect.kafka:KafkaCollector",
        "kafka",
        kafka.name,
        KAFKA_METRICS,
        args=(kafka, clock),
        kwargs={"request_timeout": max(0.2, limit / 4)},
        seeded_from=SEEDED_FROM,
    )
    return IsolatedCollector(hosted, clock, answer_timeout=answer_timeout(limit))


def _isolated_canary(kafka: KafkaConfig, clock: Clock, limit: float) -> Collector:
    """The Kafka canary of one cluster in a child process of its own, for the same reason."""
    from agent.collect.isolated import IsolatedCollector, answer_timeout
    from agent.collect.isolation_wire import Hosted
    from agent.collect.kafka_metrics import CANARY_METRICS

    hosted = Hosted(
        "agent.collect.kafka_canary:KafkaCanaryCollector",
        "kafka_canary",
        kafka.name,
        CANARY_METRICS,
        args=(kafka, clock),
    )
    return IsolatedCollector(hosted, clock, answer_timeout=answer_timeout(limit))


def _scheduled(
    config: Config, collector: Collector, interval: Duration | None, timeout: Duration | None, target: Target
) -> Scheduled:
    return Scheduled(collector, *_timing(config, interval, timeout), target)


def _target(
    config: Config, kind: str, job: str | None = None, instance: str | None = None, extra: Labels = ()
) -> Target:
    """A collector's target labels: the configured job and instance, else the defaults (agent/targets.py).

    `extra` tells collectors of one kind apart on `up` (a Kafka collector's `cluster`).
    """
    job = job or DEFAULT_JOBS.get(kind, kind)
    return make_target(job, instance or default_instance(config.web.listen_address), extra)


def _timing(config: Config, interval: Duration | None, timeout: Duration | None) -> tuple[float, float]:
    """(interval, timeout) of a collector: its own, else the global ones; the timeout at most the interval."""
    every = float(interval or config.global_.interval)
    limit = float(timeout or config.global_.timeout or every)
    return every, min(limit, every)
