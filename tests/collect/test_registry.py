from agent.clock import SystemClock
from agent.collect.host import HostCollector
from agent.collect.registry import build_collectors
from agent.config import Config, load_text


def jobs(text: str) -> dict[str, tuple[float, float]]:
    return {
        job.collector.name: (job.interval, job.timeout)
        for job in build_collectors(load_text(Config, text), SystemClock())
    }


def test_every_collector_gets_the_global_interval_and_a_timeout_no_longer_than_it() -> None:
    assert jobs("global: {interval: 5s, timeout: 20s}\n") == {"process": (5.0, 5.0), "host": (5.0, 5.0)}


def test_a_collector_interval_overrides_the_global_one() -> None:
    assert jobs("collectors:\n  host: {interval: 1s}\n")["host"] == (1.0, 1.0)


def test_a_stuck_mount_is_given_up_within_the_host_run() -> None:
    # At a 1 s interval the default 5 s mount timeout would outlast the run: the mount would never
    # be marked stuck, the whole run would be cut off instead.
    config = load_text(Config, "collectors:\n  host: {interval: 1s}\n")
    (host,) = [job.collector for job in build_collectors(config, SystemClock()) if job.collector.name == "host"]
    assert isinstance(host, HostCollector)
    assert host.mount_timeout == 0.5


def test_a_kafka_cluster_with_its_canary_on_gets_a_canary_job_at_the_canary_interval() -> None:
    text = "collectors:\n  host: {enabled: false}\n  kafka:\n    - name: a\n      bootstrap_servers: x:9092\n"
    assert "kafka_canary" not in jobs(text)
    text += "      canary: {enabled: true, interval: 30s, timeout: 5s}\n"
    assert (30.0, 30.0) == jobs(text)["kafka_canary"]
