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


def up_labels(text: str) -> dict[str, dict[str, str]]:
    """Each collector's `up` labels, by collector name and instance."""
    built = build_collectors(load_text(Config, text), SystemClock())
    return {f"{job.collector.name}/{job.collector.instance}": dict(job.target.up_labels) for job in built}


KAFKA_AND_CANARY = (
    "  kafka:\n    - name: a\n      bootstrap_servers: x:9092\n      canary: {enabled: true}\n"
    "    - {name: b, bootstrap_servers: 'y:9092', job: kafka-prod, instance: 'broker-b:9308'}\n"
)


def test_collectors_get_the_job_prometheus_users_give_their_exporter_and_the_agents_address() -> None:
    targets = up_labels("web: {listen_address: '127.0.0.1:9999'}\ncollectors:\n" + KAFKA_AND_CANARY)
    agent = "127.0.0.1:9999"
    assert {
        "process/default": {"job": "tripwired", "instance": agent},
        "host/default": {"job": "node", "instance": agent},
        "kafka/a": {"job": "kafka", "instance": agent, "cluster": "a"},
        "kafka_canary/a": {"job": "kafka_canary", "instance": agent, "cluster": "a"},
        "kafka/b": {"job": "kafka-prod", "instance": "broker-b:9308", "cluster": "b"},
    } == targets
