"""Every collector the agent has, listed explicitly: adding a source adds one entry here."""

from __future__ import annotations

from agent.clock import Clock
from agent.collect.base import Collector, Scheduled
from agent.config.schema import Config, Duration


def build_collectors(config: Config, clock: Clock) -> list[Scheduled]:
    """The configured collectors with the interval and timeout each runs at."""
    jobs: list[Scheduled] = []
    collectors = config.collectors
    if collectors.host.enabled:
        from agent.collect.host import HostCollector

        host = collectors.host
        jobs.append(_scheduled(config, HostCollector(host), host.interval, host.timeout))
    if collectors.textfile.directory is not None:
        from agent.collect.textfile import TextfileCollector

        textfile = collectors.textfile
        jobs.append(_scheduled(config, TextfileCollector(textfile), textfile.interval, textfile.timeout))
    return jobs


def _scheduled(config: Config, collector: Collector, interval: Duration | None, timeout: Duration | None) -> Scheduled:
    every = float(interval or config.global_.interval)
    limit = float(timeout or config.global_.timeout or every)
    return Scheduled(collector, every, min(limit, every))
