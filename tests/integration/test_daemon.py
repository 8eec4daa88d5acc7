"""`tripwired run` as a real subprocess: scrape, bad input, signals."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO, StartDaemon, free_port, require_binary, run_cli, wait_for_http, wait_until

HOST_FIXTURE_PROC = REPO / "tests" / "collect" / "fixtures" / "host" / "proc"


def scrape(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value_of(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_metrics_have_node_exporter_names(start_daemon: StartDaemon) -> None:
    daemon = start_daemon("global: {interval: 1s}\n")
    daemon.wait_ready()
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}

    def host_collected() -> bool:
        samples.update(scrape(daemon.get("/metrics").text))
        return any(name == "node_cpu_seconds_total" for name, _ in samples)

    wait_until(host_collected, "the host collector's first samples")
    names = {name for name, _ in samples}
    for expected in (
        "node_cpu_seconds_total",
        "node_load1",
        "node_memory_MemTotal_bytes",
        "node_filesystem_size_bytes",
        "node_network_receive_bytes_total",
        "node_filefd_maximum",
        "tripwired_collector_up",
        "tripwired_collector_duration_seconds",
        "tripwired_store_series",
    ):
        assert expected in names, expected
    assert value_of(samples, "tripwired_collector_up", collector="host", instance="default") == 1.0
    cpu = {key for key in samples if key[0] == "node_cpu_seconds_total"}
    assert all({"cpu", "mode"} == {k for k, _ in labels} for _, labels in cpu)


def test_cpu_counters_follow_proc_stat_from_one_collection_to_the_next(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    # The counters come from a procfs copy the test writes, not from the host: whether the host had
    # idle time between two scrapes depends on its load, what the daemon reads and exposes does not.
    procfs = tmp_path / "proc"
    shutil.copytree(HOST_FIXTURE_PROC, procfs)
    stat = (procfs / "stat").read_text()
    daemon = start_daemon("global: {interval: 1s}\n", f"--path.procfs={procfs}")
    daemon.wait_ready()

    def cpu0_idle_seconds() -> float | None:
        return scrape(daemon.get("/metrics").text).get(
            ("node_cpu_seconds_total", frozenset({("cpu", "0"), ("mode", "idle")}))
        )

    wait_until(lambda: cpu0_idle_seconds() == 554.10, "cpu0's idle seconds from the fixture (55410 ticks)")
    later = stat.replace("cpu0 979 0 771 55410 ", "cpu0 979 0 771 56410 ")
    assert later != stat
    (procfs / "stat.new").write_text(later)
    (procfs / "stat.new").replace(procfs / "stat")
    wait_until(lambda: cpu0_idle_seconds() == 564.10, "cpu0's idle seconds after 1000 more ticks")


def promtool_lint(promtool: str, body: bytes) -> tuple[int, set[str]]:
    result = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, check=False)
    return result.returncode, set((result.stdout + result.stderr).decode().splitlines())


def test_promtool_finds_no_problem_node_exporter_does_not_have_itself(start_daemon: StartDaemon) -> None:
    # promtool lints node_exporter's own output (exit 3): its meminfo names are camelCase. Those names are
    # the promise (dashboards use them), so the bar is: parseable, and no complaint node_exporter lacks.
    promtool = require_binary("promtool", "prometheus")
    node_exporter = require_binary("/usr/bin/prometheus-node-exporter", "prometheus-node-exporter")
    daemon = start_daemon()
    daemon.wait_ready()
    port = free_port()
    reference = subprocess.Popen(
        [node_exporter, f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/metrics")
        _, theirs = promtool_lint(promtool, httpx.get(f"http://127.0.0.1:{port}/metrics").content)
    finally:
        reference.terminate()
        reference.wait()
    code, ours = promtool_lint(promtool, daemon.get("/metrics").content)
    assert code in (0, 3), ours  # 1 would be a format error
    assert ours - theirs == set()


def test_health_and_readiness(start_daemon: StartDaemon) -> None:
    daemon = start_daemon()
    daemon.wait_ready()
    assert daemon.get("/-/healthy").status_code == 200
    assert daemon.get("/-/ready").text == "tripwired is Ready.\n"


def test_config_with_three_mistakes_reports_all_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("global:\n  interval: soon\nweb:\n  port: 1\ncollectors:\n  host: {enabled: 3}\n")
    for command in (["run", f"--config={config}"], ["config", "check", str(config)]):
        result = run_cli(*command)
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            f"{config}:2: global.interval: invalid duration 'soon' (use 10s, 1m30s, 5m, 1h)",
            f"{config}:4: web.port: unknown field 'port' "
            "(known: basic_auth_users, config_file, enable_lifecycle, external_url, idle_timeout, listen_address, "
            "max_connections, max_header_bytes, max_request_body_bytes, read_header_timeout, read_timeout, "
            "route_prefix, tls_server_config)",
            f"{config}:6: collectors.host.enabled: expected true or false, got '3'",
        ]


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("run", f"--config={tmp_path / 'absent.yaml'}")
    assert result.returncode == 2
    assert "absent.yaml: cannot read config file: No such file or directory" in result.stderr


def test_valid_config_passes_config_check(tmp_path: Path) -> None:
    config = tmp_path / "good.yaml"
    config.write_text("global: {interval: 5s}\n")
    result = run_cli("config", "check", str(config))
    assert (result.returncode, result.stdout) == (0, f"{config}: config is valid (0 rule files, 0 groups, 0 rules)\n")


def test_sigterm_stops_within_five_seconds(start_daemon: StartDaemon) -> None:
    daemon = start_daemon()
    daemon.wait_ready()
    started = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=5) == 0
    assert time.monotonic() - started < 5


def test_unreadable_textfile_directory_is_reported_and_the_daemon_serves(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    not_a_dir = tmp_path / "plain-file"
    not_a_dir.write_text("")
    daemon = start_daemon(f"collectors:\n  textfile: {{directory: {not_a_dir}}}\n")
    daemon.wait_ready()
    samples = scrape(daemon.get("/metrics").text)
    assert value_of(samples, "node_textfile_scrape_error") == 1.0
    assert "node_cpu_seconds_total" in {name for name, _ in samples}
    assert str(not_a_dir) in daemon.log()


def test_a_collector_that_hangs_is_timed_out_and_the_daemon_serves(start_daemon: StartDaemon, tmp_path: Path) -> None:
    # Every file of this fake procfs is a FIFO with no writer: the real host collector's first read blocks.
    procfs = tmp_path / "proc"
    (procfs / "sys" / "fs").mkdir(parents=True)
    (procfs / "net").mkdir()
    for name in ("stat", "loadavg", "meminfo", "vmstat", "diskstats", "mounts", "net/dev", "sys/fs/file-nr", "1"):
        os.mkfifo(procfs / name)
    daemon = start_daemon("collectors:\n  host: {interval: 1s, timeout: 500ms}\n", f"--path.procfs={procfs}")
    daemon.wait_ready()
    host = frozenset({("collector", "host"), ("instance", "default")})

    def skipped_once() -> bool:
        return scrape(daemon.get("/metrics").text).get(("tripwired_collector_skipped_total", host), 0.0) >= 1

    wait_until(skipped_once, "a run skipped because the one before still hangs")
    samples = scrape(daemon.get("/metrics").text)
    assert value_of(samples, "tripwired_collector_up", collector="host", instance="default") == 0.0
    assert "timed out after 0.5s" in daemon.log()


def test_a_host_source_that_fails_is_reported_and_the_rest_is_served(start_daemon: StartDaemon, tmp_path: Path) -> None:
    # Like node_exporter's sub-collectors, one unreadable /proc file costs its metrics, not the others'.
    procfs = tmp_path / "proc"
    procfs.mkdir()
    (procfs / "loadavg").write_text("0.25 0.50 0.75 1/100 1234\n")
    daemon = start_daemon(None, f"--path.procfs={procfs}")
    daemon.wait_ready()
    samples = scrape(daemon.get("/metrics").text)
    assert value_of(samples, "node_load5") == 0.5
    assert "node_cpu_seconds_total" not in {name for name, _ in samples}
    assert "host_source_failed" in daemon.log()
    assert str(procfs / "stat") in daemon.log()


def test_build_info_names_the_version_and_the_python_that_runs_it(start_daemon: StartDaemon) -> None:
    import platform

    from agent import __version__

    daemon = start_daemon("collectors:\n  host: {enabled: false}\n")
    daemon.wait_ready()
    deadline = time.monotonic() + 10
    samples = scrape(daemon.get("/metrics").text)
    while not any(name == "tripwired_build_info" for name, _ in samples) and time.monotonic() < deadline:
        time.sleep(0.1)
        samples = scrape(daemon.get("/metrics").text)

    info = {labels: value for (name, labels), value in samples.items() if name == "tripwired_build_info"}
    assert {frozenset({("version", __version__), ("pythonversion", platform.python_version())}): 1.0} == info
