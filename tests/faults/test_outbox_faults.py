"""The outbox on a bad day, against the real daemon: a full state disk, a crash before the dispatcher
took an alert, kill -9 rounds mid-delivery."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from agent.notify.integrations.webhook.webhook import DEDUP_HEADER
from tests.conftest import DaemonProcess, StartDaemon, free_port, wait_until
from tests.faults.fullfs import small_filesystem
from tests.faults.scraping import scrape, value
from tests.receiver import Receiver, Reply

RULES = """
groups:
  - name: jobs
    interval: 500ms
    rules:
      - alert: JobFailed
        expr: job_failed == 1
        labels: {severity: page}
"""


def config(tmp_path: Path, state_dir: Path, hook_url: str, *, group_wait: str = "0s", extra: str = "") -> str:
    (tmp_path / "textfile").mkdir(exist_ok=True)
    (tmp_path / "rules.yaml").write_text(RULES)
    return f"""
global: {{interval: 500ms, evaluation_interval: 500ms}}
state_dir: {state_dir}
rule_files: [{tmp_path / "rules.yaml"}]
collectors:
  host: {{enabled: false}}
  textfile: {{directory: {tmp_path / "textfile"}}}
route:
  receiver: jobs
  group_by: [alertname, batch]
  group_wait: {group_wait}
  group_interval: 500ms
  repeat_interval: 4h
receivers:
  - name: jobs
    webhook_configs: [{{url: "{hook_url}/hook"}}]
{extra}
"""


def set_failed_jobs(tmp_path: Path, failed: set[str], jobs: list[str]) -> None:
    (tmp_path / "textfile").mkdir(exist_ok=True)
    # Named in a label of its own: a textfile's `job` label would become `exported_job` (job="textfile").
    text = "".join(f'job_failed{{batch="{job}"}} {int(job in failed)}\n' for job in jobs)
    tmp = tmp_path / "textfile" / ".jobs.tmp"
    tmp.write_text(text)
    os.replace(tmp, tmp_path / "textfile" / "jobs.prom")


def groups_delivered(receiver: Receiver) -> Counter[str]:
    """How many requests the receiver got per alert group (its `batch` group label)."""
    return Counter(json.loads(r.body)["groupLabels"]["batch"] for r in receiver.requests)


def enqueue_failures(daemon: DaemonProcess) -> float:
    return value(scrape(daemon), "tripwired_notifications_enqueue_failures_total", receiver="jobs") or 0.0


def iterations(daemon: DaemonProcess) -> float:
    """How many times the daemon evaluated its rule group."""
    samples = scrape(daemon)
    return sum(v for (name, _), v in samples.items() if name == "tripwired_rule_group_iterations_total")


def test_a_full_state_disk_sends_each_group_once_and_holds_back_none(start_daemon: StartDaemon, tmp_path: Path) -> None:
    """The state directory's filesystem fills up while alerts fire and notifications are delivered.

    Every group is sent once, while the disk is still full (from the outbox's memory lane), and
    never again: not in a resend loop while the disk is full, not when space returns. Enqueueing
    fails loudly once (tripwired_notifications_enqueue_failures_total, a few log lines, not one
    per retry), and an alert that fires after space returns is sent as usual.
    """
    receiver = Receiver(default=Reply(delay=0.5)).start()  # slow enough to fill the disk mid-delivery
    jobs = [f"job{i}" for i in range(8)]
    try:
        with small_filesystem(tmp_path / "state") as fs:
            set_failed_jobs(tmp_path, set(), jobs)
            daemon = start_daemon(config(tmp_path, fs.path, receiver.url))
            daemon.wait_ready()
            set_failed_jobs(tmp_path, {"job0"}, jobs)
            wait_until(lambda: len(receiver.requests) == 1, what="job0 being delivered")
            fs.fill()  # the delivery's acknowledgement cannot be written
            log_before = len(daemon.log().splitlines())
            set_failed_jobs(tmp_path, {"job0", "job1", "job2", "job3"}, jobs)
            wait_until(lambda: len(groups_delivered(receiver)) == 4, what="the new groups sent while the disk is full")
            # Ten more evaluations and group intervals on a full disk: a resend loop or a log line per
            # retry would show here.
            evaluated = iterations(daemon)
            wait_until(lambda: iterations(daemon) >= evaluated + 10, what="ten more evaluations")
            full_disk = (groups_delivered(receiver), len(daemon.log().splitlines()) - log_before)
            failures = enqueue_failures(daemon)
            fs.free()
            set_failed_jobs(tmp_path, {"job0", "job1", "job2", "job3", "job4"}, jobs)
            wait_until(lambda: "job4" in groups_delivered(receiver), what="job4 notified after space returned")
            daemon.stop()
    finally:
        receiver.stop()
    assert {"job0": 1, "job1": 1, "job2": 1, "job3": 1} == dict(full_disk[0])
    assert 1 <= failures <= 3  # one refused write per new group, no retry loop
    assert full_disk[1] < 10, daemon.log()
    delivered = groups_delivered(receiver)
    assert {"job0": 1, "job1": 1, "job2": 1, "job3": 1, "job4": 1} == dict(delivered)
    dedup_keys = Counter(r.headers[DEDUP_HEADER] for r in receiver.requests)
    assert 1 == max(dedup_keys.values())


def firing_in_api(daemon: DaemonProcess) -> bool:
    alerts = daemon.get("/api/v1/alerts").json()["data"]["alerts"]
    return any(a["state"] == "firing" for a in alerts)


def kill_9(daemon: DaemonProcess) -> None:
    daemon.proc.kill()  # SIGKILL: no drain, no flush, no goodbye
    daemon.proc.wait(timeout=10)


def test_a_crash_after_an_alert_fired_but_before_its_group_was_queued_delays_nothing(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """kill -9 after an alert fired (its state saved) but while its group waits out group_wait.

    After the restart the notification is sent within the group_wait, not after the ruler's
    one-minute resend delay: nothing was marked sent before the outbox had it.
    """
    receiver = Receiver().start()
    try:
        conf = config(tmp_path, tmp_path / "state", receiver.url, group_wait="3s")
        set_failed_jobs(tmp_path, set(), ["job0"])
        first = start_daemon(conf)
        first.wait_ready()
        set_failed_jobs(tmp_path, {"job0"}, ["job0"])
        wait_until(lambda: firing_in_api(first), what="the alert firing")
        kill_9(first)
        assert [] == receiver.requests  # killed inside group_wait: nothing was sent yet
        second = start_daemon(conf, port=first.port)  # restarted: the same address, the same target labels
        second.wait_ready()
        # Well under the ruler's resend delay of one minute, which is what a restart used to wait.
        wait_until(lambda: groups_delivered(receiver)["job0"] == 1, timeout=20, what="job0 notified after restart")
    finally:
        receiver.stop()


MAX_IN_FLIGHT = 4  # the notification_queue.max_in_flight default
ROUNDS = 5
GROUPS_PER_ROUND = 12


def test_kill_9_rounds_mid_delivery_repeat_at_most_what_was_in_flight(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """kill -9 the daemon five times while it delivers to a slow receiver, new alert groups firing each round.

    Every group arrives; a group arrives twice only if it was in flight at a kill (at most
    max_in_flight per kill), and then with the same dedup key and alert fingerprint.
    """
    receiver = Receiver(default=Reply(delay=0.2)).start()
    jobs = [f"job{i}" for i in range(ROUNDS * GROUPS_PER_ROUND)]
    conf = config(tmp_path, tmp_path / "state", receiver.url)
    set_failed_jobs(tmp_path, set(), jobs)
    try:
        port = free_port()  # every round restarts on the same address: the same target labels
        for round_ in range(ROUNDS):
            daemon = start_daemon(conf, port=port)
            daemon.wait_ready()
            seen = len(receiver.requests)
            set_failed_jobs(tmp_path, set(jobs[: (round_ + 1) * GROUPS_PER_ROUND]), jobs)
            wait_until(lambda s=seen: len(receiver.requests) >= s + MAX_IN_FLIGHT, what="deliveries under way")
            kill_9(daemon)
        last = start_daemon(conf, port=port)
        last.wait_ready()
        wait_until(lambda: set(groups_delivered(receiver)) == set(jobs), timeout=60, what="every group delivered")
        last.stop()
    finally:
        receiver.stop()
    keys_per_group: dict[str, set[tuple[str, str]]] = {}
    for request in receiver.requests:
        payload = json.loads(request.body)
        fingerprints = ",".join(a["fingerprint"] for a in payload["alerts"])
        keys_per_group.setdefault(payload["groupLabels"]["batch"], set()).add(
            (request.headers[DEDUP_HEADER], fingerprints)
        )
    repeats = len(receiver.requests) - len(jobs)
    print(f"{len(jobs)} groups, {ROUNDS} kill -9 rounds: {repeats} repeated deliveries")
    assert (1, True) == (max(len(k) for k in keys_per_group.values()), repeats <= ROUNDS * MAX_IN_FLIGHT)
