"""StatsdExporter against a real UDP socket on loopback: the exact lines a StatsD server receives."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from agent.config import ConfigError, Duration, load_text
from agent.config.statsd import StatsdConfig, parse_template, statsd_config_errors
from agent.export.statsd import StatsdConfigError, StatsdExporter, sanitize
from agent.model import MetricMeta, MetricType, Sample, counter, gauge, labels_of
from agent.store import Store
from agent.targets import SYNTHETIC_METRICS, make_target

# How long the listener waits for the first datagram, then for one more before it calls the batch
# complete. On loopback a datagram is queued at the receiver before sendto returns.
FIRST_SECONDS = 1.0
QUIET_SECONDS = 0.05


class Listener:
    """A StatsD server's socket: receives datagrams on a free loopback port."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])

    def datagrams(self) -> list[bytes]:
        """Everything that arrives until the socket has been quiet for QUIET_SECONDS."""
        received: list[bytes] = []
        self.sock.settimeout(FIRST_SECONDS)
        while True:
            try:
                received.append(self.sock.recv(65535))
            except TimeoutError:
                return received
            self.sock.settimeout(QUIET_SECONDS)

    def lines(self) -> list[str]:
        return [line for datagram in self.datagrams() for line in datagram.decode().split("\n")]


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.sock.close()


def exporter(store: Store, listener: Listener, **settings: Any) -> StatsdExporter:
    """An exporter sending to `listener`, with the default config but for `settings`."""
    return StatsdExporter(dataclasses.replace(StatsdConfig(port=listener.port), **settings), store)


def write(store: Store, t_s: int, *samples: Sample) -> None:
    store.write("test", samples, t_s * 1000)


# -- gauges and counters ---------------------------------------------------------------


def test_gauge_is_sent_as_its_latest_value(listener: Listener) -> None:
    store = Store()
    store.declare([gauge("node_load1", "1m load average.")])
    write(store, 1, Sample("node_load1", (), 0.5))
    write(store, 2, Sample("node_load1", (), 0.75))
    exporter(store, listener).flush()
    assert ["tripwired.node_load1:0.75|g"] == listener.lines()


def test_a_collectors_series_is_sent_without_its_target_labels_and_up_not_at_all(listener: Listener) -> None:
    target = make_target("node", "agent:9842")
    store = Store()
    store.declare([gauge("node_load1", "1m load average."), *SYNTHETIC_METRICS])
    write(store, 1, Sample("node_load1", target.labels, 0.5), Sample("up", target.up_labels, 1))
    sender = exporter(store, listener)
    sender.hide_targets({target.key})
    sender.flush()
    assert ["tripwired.node_load1:0.5|g"] == listener.lines()


def test_integral_value_is_sent_without_a_decimal_point(listener: Listener) -> None:
    store = Store()
    write(store, 1, Sample("node_filefd_maximum", (), 9.0))
    exporter(store, listener).flush()
    assert ["tripwired.node_filefd_maximum:9|g"] == listener.lines()


def test_untyped_metric_is_sent_as_a_gauge(listener: Listener) -> None:
    store = Store()
    write(store, 1, Sample("pipeline_rows", (), 42))
    exporter(store, listener).flush()
    assert ["tripwired.pipeline_rows:42|g"] == listener.lines()


def test_negative_gauge_is_sent_as_zero_then_the_value(listener: Listener) -> None:
    # A leading sign means "change by" in StatsD, so an absolute negative value needs a reset first.
    store = Store()
    write(store, 1, Sample("temperature_celsius", (), -3.5))
    sent = exporter(store, listener).flush()
    lines = listener.lines()
    assert (2, ["tripwired.temperature_celsius:0|g", "tripwired.temperature_celsius:-3.5|g"]) == (sent, lines)


def test_first_flush_sends_no_counter_line(listener: Listener) -> None:
    store = Store()
    store.declare([counter("requests_total", "Requests.")])
    write(store, 1, Sample("requests_total", (), 100), Sample("up", (), 1))
    exporter(store, listener).flush()
    assert ["tripwired.up:1|g"] == listener.lines()


def test_counter_sends_its_increase_since_the_last_flush(listener: Listener) -> None:
    store = Store()
    store.declare([counter("requests_total", "Requests.")])
    statsd = exporter(store, listener)
    write(store, 1, Sample("requests_total", (), 100))
    statsd.flush()
    write(store, 2, Sample("requests_total", (), 130))
    statsd.flush()
    assert ["tripwired.requests_total:30|c"] == listener.lines()


def test_unchanged_counter_sends_an_increase_of_zero(listener: Listener) -> None:
    store = Store()
    store.declare([counter("requests_total", "Requests.")])
    statsd = exporter(store, listener)
    write(store, 1, Sample("requests_total", (), 100))
    statsd.flush()
    statsd.flush()
    assert ["tripwired.requests_total:0|c"] == listener.lines()


def test_float_counter_increase_has_no_float_noise(listener: Listener) -> None:
    store = Store()
    store.declare([counter("process_cpu_seconds_total", "CPU.")])
    statsd = exporter(store, listener)
    write(store, 1, Sample("process_cpu_seconds_total", (), 0.2))
    statsd.flush()
    write(store, 2, Sample("process_cpu_seconds_total", (), 0.3))  # 0.3 - 0.2 == 0.09999999999999998
    statsd.flush()
    assert ["tripwired.process_cpu_seconds_total:0.1|c"] == listener.lines()


def test_counter_reset_sends_the_count_since_the_reset_not_a_negative_delta(listener: Listener) -> None:
    store = Store()
    store.declare([counter("requests_total", "Requests.")])
    statsd = exporter(store, listener)
    write(store, 1, Sample("requests_total", (), 100))
    statsd.flush()
    write(store, 2, Sample("requests_total", (), 7))  # the process restarted and counted 7 since
    statsd.flush()
    assert ["tripwired.requests_total:7|c"] == listener.lines()


def test_histogram_bucket_sum_and_count_are_sent_as_counters(listener: Listener) -> None:
    store = Store()
    store.declare([MetricMeta("lat_seconds", MetricType.HISTOGRAM, "Latency.")])
    statsd = exporter(store, listener, template="{name}")
    write(
        store,
        1,
        Sample("lat_seconds_bucket", labels_of(le="+Inf"), 3),
        Sample("lat_seconds_count", (), 3),
        Sample("lat_seconds_sum", (), 1.5),
    )
    statsd.flush()
    write(
        store,
        2,
        Sample("lat_seconds_bucket", labels_of(le="+Inf"), 5),
        Sample("lat_seconds_count", (), 5),
        Sample("lat_seconds_sum", (), 2.5),
    )
    statsd.flush()
    assert [
        "tripwired.lat_seconds_bucket:2|c",
        "tripwired.lat_seconds_count:2|c",
        "tripwired.lat_seconds_sum:1|c",
    ] == listener.lines()


def test_stale_series_is_not_sent(listener: Listener) -> None:
    store = Store()
    write(store, 1, Sample("up", labels_of(job="a"), 1), Sample("up", labels_of(job="b"), 1))
    write(store, 2, Sample("up", labels_of(job="a"), 1))  # job="b" is gone: marked stale
    exporter(store, listener).flush()
    assert ["tripwired.up.a:1|g"] == listener.lines()


def test_nan_and_infinite_values_are_not_sent(listener: Listener) -> None:
    store = Store()
    write(
        store,
        1,
        Sample("ratio", labels_of(x="nan"), math.nan),
        Sample("ratio", labels_of(x="inf"), math.inf),
        Sample("ratio", labels_of(x="one"), 1),
    )
    exporter(store, listener).flush()
    assert ["tripwired.ratio.one:1|g"] == listener.lines()


def test_flush_returns_the_number_of_lines_sent(listener: Listener) -> None:
    store = Store()
    write(store, 1, *(Sample("up", labels_of(job=str(i)), 1) for i in range(5)))
    assert 5 == exporter(store, listener).flush()


# -- names ---------------------------------------------------------------------------------


def test_default_template_puts_every_label_value_in_label_name_order(listener: Listener) -> None:
    store = Store()
    write(store, 1, Sample("node_cpu_seconds_total", labels_of(mode="idle", cpu="0"), 5))
    exporter(store, listener).flush()
    assert ["tripwired.node_cpu_seconds_total.0.idle:5|g"] == listener.lines()


def test_template_selects_labels_into_the_name(listener: Listener) -> None:
    store = Store()
    write(store, 1, Sample("node_disk_io_now", labels_of(device="sda", host="h1"), 2))
    exporter(store, listener, template="disks.{label.device}.{name}").flush()
    assert ["tripwired.disks.sda.node_disk_io_now:2|g"] == listener.lines()


def test_series_merged_by_the_template_are_summed(listener: Listener) -> None:
    store = Store()
    write(
        store,
        1,
        Sample("node_filesystem_avail_bytes", labels_of(device="sda1", mountpoint="/"), 100),
        Sample("node_filesystem_avail_bytes", labels_of(device="sda1", mountpoint="/boot"), 20),
        Sample("node_filesystem_avail_bytes", labels_of(device="sdb1", mountpoint="/data"), 5),
    )
    exporter(store, listener, template="{name}.{label.device}").flush()
    assert [
        "tripwired.node_filesystem_avail_bytes.sda1:120|g",
        "tripwired.node_filesystem_avail_bytes.sdb1:5|g",
    ] == listener.lines()


def test_missing_template_label_leaves_no_empty_segment(listener: Listener) -> None:
    store = Store()
    write(store, 1, Sample("up", (), 1))
    exporter(store, listener, template="{name}.{label.device}.x").flush()
    assert ["tripwired.up.x:1|g"] == listener.lines()


def test_names_and_label_values_are_sanitised_for_statsd(listener: Listener) -> None:
    store = Store()
    write(store, 1, Sample("job:rows:rate5m", labels_of(path="/data/lake 1|a@b.c", owner="zoë"), 1))
    exporter(store, listener).flush()
    assert ["tripwired.job_rows_rate5m.zo_._data_lake_1_a_b_c:1|g"] == listener.lines()


def test_sanitize_keeps_letters_digits_underscore_and_dash() -> None:
    assert "a-b_C9___" == sanitize("a-b_C9:|@")


def test_empty_prefix_sends_bare_names(listener: Listener) -> None:
    store = Store()
    write(store, 1, Sample("up", (), 1))
    exporter(store, listener, prefix="").flush()
    assert ["up:1|g"] == listener.lines()


# -- selection -------------------------------------------------------------------------------


def test_include_and_exclude_select_metric_names_fully_anchored(listener: Listener) -> None:
    store = Store()
    write(
        store,
        1,
        Sample("node_load1", (), 1),
        Sample("node_load15", (), 2),
        Sample("xnode_load1", (), 3),
        Sample("kafka_brokers", (), 4),
    )
    exporter(store, listener, include=["node_load.*", "kafka_.*"], exclude=["node_load15"]).flush()
    assert ["tripwired.kafka_brokers:4|g", "tripwired.node_load1:1|g"] == listener.lines()


def test_metric_that_appears_later_is_selected_by_the_same_rules(listener: Listener) -> None:
    store = Store()
    statsd = exporter(store, listener, include=["kafka_.*"])
    write(store, 1, Sample("node_load1", (), 1))
    statsd.flush()
    write(store, 2, Sample("node_load1", (), 1), Sample("kafka_brokers", (), 3))
    statsd.flush()
    assert ["tripwired.kafka_brokers:3|g"] == listener.lines()


# -- batching --------------------------------------------------------------------------------


def test_lines_are_batched_into_datagrams_no_larger_than_max_udp_size(listener: Listener) -> None:
    store = Store()
    write(store, 1, *(Sample("pipeline_rows", labels_of(table=f"table{i:03d}"), 1) for i in range(200)))
    exporter(store, listener, max_udp_size=512).flush()
    datagrams = listener.datagrams()
    lines = [line for d in datagrams for line in d.decode().split("\n")]
    # Lines of 36 bytes: 13 of them and 12 newlines make 480 bytes, a 14th would make 517.
    assert (16, 200) == (len(datagrams), len(lines))
    assert max(len(d) for d in datagrams) < 512


def test_every_series_arrives_once_in_a_batch(listener: Listener) -> None:
    store = Store()
    write(store, 1, *(Sample("pipeline_rows", labels_of(table=f"t{i}"), i) for i in range(200)))
    exporter(store, listener).flush()
    assert sorted(f"tripwired.pipeline_rows.t{i}:{i}|g" for i in range(200)) == sorted(listener.lines())


# -- configuration -----------------------------------------------------------------------------


def test_config_loads_from_yaml_with_a_prometheus_duration() -> None:
    config = load_text(StatsdConfig, "host: statsd.example\nport: 9125\ninterval: 1m\ntemplate: '{name}'\n")
    assert StatsdConfig(host="statsd.example", port=9125, interval=Duration(60), template="{name}") == config


def test_config_with_an_unknown_key_is_refused_with_its_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(StatsdConfig, "host: x\nprefx: y\n", "statsd.yaml")
    assert [
        "statsd.yaml:2: prefx: unknown field 'prefx' (known: exclude, host, include, interval, max_udp_size, "
        "port, prefix, template)"
    ] == caught.value.errors


def test_template_pieces_are_parsed() -> None:
    kinds = [(piece.kind, piece.text) for piece in parse_template("x.{name}.{label.device}.{labels}")]
    assert [("text", "x."), ("name", ""), ("text", "."), ("label", "device"), ("text", "."), ("labels", "")] == kinds


def test_unknown_placeholder_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown placeholder \{host\}"):
        parse_template("{name}.{host}")


def test_template_without_name_is_refused() -> None:
    with pytest.raises(ValueError, match=r"has no \{name\}"):
        parse_template("{labels}")


def test_template_text_with_a_statsd_separator_is_refused() -> None:
    with pytest.raises(ValueError, match="may hold only"):
        parse_template("{name}:x")


def test_every_config_problem_is_reported_at_once() -> None:
    config = StatsdConfig(port=0, prefix="a b", template="{nam}", include=["("], max_udp_size=10, interval=Duration(0))
    fields = [error.split(":")[0] for error in statsd_config_errors(config)]
    assert [
        "statsd.port",
        "statsd.prefix",
        "statsd.interval",
        "statsd.max_udp_size",
        "statsd.template",
        "statsd.include",
    ] == fields


def test_exporter_refuses_an_invalid_config_before_opening_a_socket() -> None:
    with pytest.raises(StatsdConfigError) as caught:
        StatsdExporter(StatsdConfig(exclude=["[a"]), Store())
    assert 1 == len(caught.value.errors)


def test_interval_defaults_to_the_global_interval() -> None:
    assert 30.0 == StatsdExporter(StatsdConfig(), Store(), default_interval=30.0).interval


def test_configured_interval_overrides_the_global_one() -> None:
    assert 5.0 == StatsdExporter(StatsdConfig(interval=Duration(5)), Store(), default_interval=30.0).interval


# -- running -----------------------------------------------------------------------------------


def test_run_flushes_every_interval_until_stopped(listener: Listener) -> None:
    store = Store()
    write(store, 1, Sample("up", (), 1))
    statsd = StatsdExporter(StatsdConfig(port=listener.port, interval=Duration(0.05)), store)

    async def run_for(seconds: float) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(statsd.run(stop))
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.wait_for(task, timeout=1.0)

    asyncio.run(run_for(0.28))
    # One flush per 50 ms, the first one interval in: 5 on an idle machine, fewer on a loaded one.
    assert 2 <= len(listener.lines()) <= 5


def test_run_keeps_going_when_the_host_cannot_be_resolved() -> None:
    # `.invalid` never resolves (RFC 2606); the resolver says so without asking the network.
    statsd = StatsdExporter(StatsdConfig(host="statsd.invalid", interval=Duration(0.05)), Store())

    async def run_briefly() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(statsd.run(stop))
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(task, timeout=6.0)

    started = time.monotonic()
    with capture_logs() as logs:
        asyncio.run(run_briefly())
    assert "statsd_resolve_failed" in {entry["event"] for entry in logs}
    assert time.monotonic() - started < 6.0
