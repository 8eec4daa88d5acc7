"""Every collector the agent has, listed explicitly: adding a source adds one entry here."""

from __future__ import annotations

from agent.clock import Clock
from agent.collect.base import Collector, Scheduled
from agent.config.schema import Config, Duration


def build_collectors(config: Config, clock: Clock) -> list[Scheduled]:
    """The configured collectors with the interval and timeout each runs at."""
    from agent.collect.process import ProcessCollector

    jobs: list[Scheduled] = [_scheduled(config, ProcessCollector(), None, None)]
    collectors = config.collectors
    if collectors.host.enabled:
        from agent.collect.host import HostCollector

        host = collectors.host
        jobs.append(_scheduled(config, HostCollector(host), host.interval, host.timeout))
    if collectors.textfile.directory is not None:
        from agent.collect.textfile import TextfileCollector

        textfile = collectors.textfile
        jobs.append(_scheduled(config, TextfileCollector(textfile), textfile.interval, textfile.timeout))
    for kafka in collectors.kafka:
        from agent.collect.kafka import KafkaCollector

        jobs.append(_scheduled(config, KafkaCollector(kafka, clock), kafka.interval, kafka.timeout))
    for warehouse in collectors.warehouse:
        from agent.collect.warehouse import WarehouseDiskCollector, WarehouseScanCollector, scan_runner_timeout

        disk = WarehouseDiskCollector(warehouse, procfs=collectors.host.procfs, sysfs=collectors.host.sysfs)
        jobs.append(_scheduled(config, disk, warehouse.interval, warehouse.timeout))
        # The scan keeps to its own budget (scan.timeout) and reports what it saw; the runner's timeout
        # is only the backstop for a scan stuck in one system call.
        scan_every = float(warehouse.scan.interval)
        jobs.append(Scheduled(WarehouseScanCollector(warehouse, clock), scan_every,
                              min(scan_runner_timeout(warehouse.scan), scan_every)))
    return jobs


def _scheduled(config: Config, collector: Collector, interval: Duration | None, timeout: Duration | None) -> Scheduled:
    every = float(interval or config.global_.interval)
    limit = float(timeout or config.global_.timeout or every)
    return Scheduled(collector, every, min(limit, every))
