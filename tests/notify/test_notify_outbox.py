"""The durable outbox: stored before sending, delivered at least once, never twice after acknowledgement."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.clock import FakeClock, SystemClock
from agent.config.receivers import HttpClientConfig, WebhookConfig
from agent.config.schema import Duration, Secret
from agent.model import MetricType
from agent.notify.integrations.protocol import Notifier
from agent.notify.integrations.webhook.webhook import DEDUP_HEADER, WebhookSender
from agent.notify.model import Notification, Outcome, Result
from agent.notify.outbox import Outbox
from agent.notify.outbox.memory_lane import PENDING
from agent.notify.outbox.store import OutboxStore, Update
from agent.statedb import StateError
from tests.conftest import free_port
from tests.notify.test_notify_http import firing, notification, resolved
from tests.receiver import Receiver, Reply

FAST: dict[str, Any] = {"backoff_base": 0.05, "backoff_max": 0.2, "drain_seconds": 0.5}


def webhook(url: str, timeout: float = 0.3) -> WebhookSender:
    http_config = HttpClientConfig(timeout=Duration(timeout))
    config = WebhookConfig(url=Secret(f"{url}/hook?token=t0ps3cret"), http_config=http_config)
    return WebhookSender(config, external_url="http://agent")


def outbox(state_dir: Path, url: str, timeout: float = 0.3, **options: Any) -> Outbox:
    senders = {"team": [("webhook/0", webhook(url, timeout))]}
    return Outbox(state_dir, senders, SystemClock(), **{**FAST, **options})


def group(i: int) -> Notification:
    return notification(firing(instance=f"h{i}"), group_key=f'{{}}:{{instance="h{i}"}}')


def run_until(box: Outbox, done: Callable[[], bool], timeout: float = 5.0, then: float = 0.0) -> None:
    """Run the outbox until `done()` holds (then `then` seconds more), and stop it."""

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(box.run(stop))
        deadline = asyncio.get_running_loop().time() + timeout
        while not done() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(then)
        stop.set()
        await task

    asyncio.run(scenario())


def on_db(box: Outbox, sql: str) -> list[tuple[object, ...]]:
    """Run one statement on the outbox's own connection, on its database thread."""
    return box.db_thread.run(box._store.execute, sql)


def delivered(box: Outbox) -> Callable[[], bool]:
    return lambda: not box.pending()


def test_a_notification_is_stored_before_anything_is_sent(tmp_path: Path, receiver: Receiver) -> None:
    box = outbox(tmp_path, receiver.url)
    box.enqueue(notification())
    assert (1, 0) == (len(box.pending()), len(receiver.requests))


def test_the_outbox_lives_in_the_shared_state_database(tmp_path: Path, receiver: Receiver) -> None:
    outbox(tmp_path, receiver.url).enqueue(notification())
    with sqlite3.connect(tmp_path / "tripwired.db") as db:
        version = db.execute("SELECT version FROM schema_version WHERE component = 'outbox'").fetchone()
        mode = db.execute("PRAGMA journal_mode").fetchone()
    assert ((1,), ("wal",)) == (version, mode)


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path, receiver: Receiver) -> None:
    outbox(tmp_path, receiver.url).close()
    with sqlite3.connect(tmp_path / "tripwired.db") as db:
        db.execute("UPDATE schema_version SET version = 99 WHERE component = 'outbox'")
    with pytest.raises(StateError, match="newer"):
        outbox(tmp_path, receiver.url)


def test_an_identical_notification_enqueued_twice_is_stored_once(tmp_path: Path, receiver: Receiver) -> None:
    box = outbox(tmp_path, receiver.url)
    box.enqueue(notification())
    box.enqueue(notification())
    assert 1 == len(box.pending())


def test_every_integration_of_the_receiver_gets_a_row(tmp_path: Path, receiver: Receiver) -> None:
    senders: list[tuple[str, Notifier]] = [("webhook/0", webhook(receiver.url)), ("webhook/1", webhook(receiver.url))]
    box = Outbox(tmp_path, {"team": senders}, SystemClock())
    box.enqueue(notification())
    assert ["webhook/0", "webhook/1"] == [e.integration for e in box.pending()]


def test_a_receiver_without_integrations_stores_nothing(tmp_path: Path, receiver: Receiver) -> None:
    box = outbox(tmp_path, receiver.url)
    box.enqueue(notification(receiver="nobody"))
    assert [] == box.pending()


def test_pending_notifications_are_delivered(tmp_path: Path, receiver: Receiver) -> None:
    box = outbox(tmp_path, receiver.url)
    note = notification()
    box.enqueue(note)
    run_until(box, delivered(box))
    assert [note.dedup_key] == [r.headers[DEDUP_HEADER] for r in receiver.requests]


def test_500_then_200_is_delivered_once(tmp_path: Path, receiver: Receiver) -> None:
    receiver.script.append(Reply(500, "oops"))
    box = outbox(tmp_path, receiver.url)
    box.enqueue(notification())
    run_until(box, delivered(box), then=0.3)
    assert (2, [], []) == (len(receiver.requests), box.pending(), box.dead_letters())


def test_429_waits_as_long_as_retry_after_asks(tmp_path: Path, receiver: Receiver) -> None:
    receiver.script.append(Reply(429, "slow down", {"Retry-After": "1"}))
    box = outbox(tmp_path, receiver.url, backoff_max=2.0)  # Retry-After is capped at the maximum backoff
    box.enqueue(notification())
    run_until(box, delivered(box))
    first, second = receiver.requests
    assert second.at - first.at >= 0.95


def test_a_receiver_that_hangs_past_the_timeout_is_tried_again(tmp_path: Path, receiver: Receiver) -> None:
    receiver.script.append(Reply(delay=1.5))
    box = outbox(tmp_path, receiver.url)
    box.enqueue(notification())
    run_until(box, delivered(box))
    assert (2, []) == (len(receiver.requests), box.pending())


def test_connection_refused_until_the_receiver_comes_up(tmp_path: Path) -> None:
    server = Receiver(free_port())
    box = outbox(tmp_path, server.url)
    box.enqueue(notification())

    async def start_later() -> None:
        await asyncio.sleep(0.5)
        server.start()

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(box.run(stop))
        await start_later()
        while box.pending():
            await asyncio.sleep(0.01)
        stop.set()
        await task

    try:
        asyncio.run(asyncio.wait_for(scenario(), 5))
        assert 1 == len(server.requests)
    finally:
        server.stop()


def test_a_400_is_a_dead_letter_and_not_retried(tmp_path: Path, receiver: Receiver) -> None:
    receiver.script.append(Reply(400, "bad request"))
    box = outbox(tmp_path, receiver.url)
    box.enqueue(notification())
    run_until(box, delivered(box), then=0.3)
    assert (1, ["unexpected status code 400: bad request"]) == (
        len(receiver.requests),
        [e.reason for e in box.dead_letters()],
    )


def test_a_dead_letter_reason_is_redacted(tmp_path: Path, receiver: Receiver) -> None:
    receiver.script.append(Reply(400, "no hook at /hook?token=t0ps3cret"))
    box = outbox(tmp_path, receiver.url)
    box.enqueue(notification())
    run_until(box, delivered(box))
    assert "t0ps3cret" not in box.dead_letters()[0].reason


def test_a_retry_older_than_max_age_becomes_a_dead_letter(tmp_path: Path, receiver: Receiver) -> None:
    receiver.default = Reply(503, "down")
    box = outbox(tmp_path, receiver.url, max_age=0.3)
    box.enqueue(notification())
    run_until(box, delivered(box))
    assert ["gave up after"] == [e.reason[:13] for e in box.dead_letters()]


def test_a_restart_does_not_resend_what_was_acknowledged(tmp_path: Path, receiver: Receiver) -> None:
    first = outbox(tmp_path, receiver.url)
    first.enqueue(notification())
    run_until(first, delivered(first))
    first.close()
    second = outbox(tmp_path, receiver.url)
    second.enqueue(notification())  # the dispatcher, restarted, hands over the same notification
    run_until(second, delivered(second), then=0.2)
    assert 1 == len(receiver.requests)


def test_a_restart_delivers_what_was_pending(tmp_path: Path, receiver: Receiver) -> None:
    first = outbox(tmp_path, receiver.url)
    first.enqueue(notification())
    first.close()
    second = outbox(tmp_path, receiver.url)
    run_until(second, delivered(second))
    assert 1 == len(receiver.requests)


def test_concurrency_per_receiver_is_limited(tmp_path: Path, receiver: Receiver) -> None:
    receiver.default = Reply(delay=0.2)
    # A timeout far above the delay: on a loaded machine a 0.2 s answer can take longer than 0.3 s,
    # and a timed-out request still at the receiver while its retry starts would count twice.
    box = outbox(tmp_path, receiver.url, timeout=10.0, max_concurrency_per_receiver=2)
    for i in range(6):
        box.enqueue(group(i))
    run_until(box, delivered(box))
    assert (6, 2) == (len(receiver.requests), receiver.max_in_flight)


def test_stopping_lets_a_delivery_in_flight_finish(tmp_path: Path, receiver: Receiver) -> None:
    # SIGTERM while a receiver is answering: the answer is awaited (up to drain_seconds) and recorded,
    # so the next start does not send it again.
    receiver.default = Reply(delay=0.2)
    box = outbox(tmp_path, receiver.url, timeout=10.0, drain_seconds=2.0)
    box.enqueue(group(0))
    run_until(box, lambda: bool(receiver.requests))
    assert ([], 1) == (box.pending(), len(receiver.requests))


class Hanging:
    """A sender whose receiver never answers."""

    async def send(self, note: Notification) -> Result:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_a_backlog_for_one_receiver_does_not_hold_up_another(tmp_path: Path, receiver: Receiver) -> None:
    box = Outbox(
        tmp_path,
        {"busy": [("hang/0", Hanging())], "team": [("webhook/0", webhook(receiver.url))]},
        SystemClock(),
        max_concurrency_per_receiver=1,
        **FAST,
    )
    for i in range(300):
        box.enqueue(notification(firing(instance=f"h{i}"), receiver="busy", group_key=f"g{i}"))
    box.enqueue(notification())
    run_until(box, lambda: bool(receiver.requests), timeout=2.0)
    assert 1 == len(receiver.requests)


def test_a_newer_notification_supersedes_an_unsent_one_of_the_same_group(tmp_path: Path, receiver: Receiver) -> None:
    box = outbox(tmp_path, receiver.url)
    alert = firing()
    box.enqueue(notification(alert))
    box.enqueue(notification(resolved(alert)))
    run_until(box, delivered(box), then=0.2)
    assert ["resolved"] == [r.json()["status"] for r in receiver.requests]


def test_an_alert_that_fires_again_after_resolving_is_sent_again(tmp_path: Path, receiver: Receiver) -> None:
    box = outbox(tmp_path, receiver.url)
    alert = firing()
    for note in (notification(alert), notification(resolved(alert)), notification(alert)):
        box.enqueue(note)  # the same key as the first, but after a different one: a new notification
        run_until(box, delivered(box))
    assert ["firing", "resolved", "firing"] == [r.json()["status"] for r in receiver.requests]


def test_one_group_is_delivered_in_order(tmp_path: Path, receiver: Receiver) -> None:
    receiver.script.append(Reply(delay=0.3))
    box = outbox(tmp_path, receiver.url)
    alert = firing()

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(box.run(stop))
        box.enqueue(notification(alert))
        await asyncio.sleep(0.1)  # the firing one is in flight now
        box.enqueue(notification(resolved(alert)))
        while box.pending():
            await asyncio.sleep(0.01)
        stop.set()
        await task

    asyncio.run(scenario())
    assert ["firing", "resolved"] == [r.json()["status"] for r in receiver.requests]


def test_backoff_doubles_with_jitter_up_to_the_maximum(tmp_path: Path) -> None:
    box = Outbox(tmp_path, {}, FakeClock(), backoff_base=1.0, backoff_max=8.0, seed=1)
    delays = [box.backoff(n) for n in (1, 2, 3, 4, 10)]
    bounds = [(0.5, 1), (1, 2), (2, 4), (4, 8), (4, 8)]
    assert all(low <= d <= high for d, (low, high) in zip(delays, bounds, strict=True)), delays


def test_retry_after_beyond_the_maximum_backoff_is_capped(tmp_path: Path) -> None:
    box = Outbox(tmp_path, {}, FakeClock(), backoff_base=1.0, backoff_max=8.0)
    assert 8.0 == box.backoff(1, retry_after=3600.0)


def test_delivered_rows_are_forgotten_after_the_retention(tmp_path: Path, receiver: Receiver) -> None:
    box = outbox(tmp_path, receiver.url, delivered_retention=0.1)
    box.enqueue(notification())
    run_until(box, delivered(box), then=0.2)
    box.enqueue(notification())  # no longer known: a repeat goes out again
    assert 1 == len(box.pending())


def test_rows_of_an_integration_removed_by_a_reload_become_dead_letters(tmp_path: Path, receiver: Receiver) -> None:
    box = outbox(tmp_path, receiver.url)
    box.enqueue(notification())
    box.replace_integrations({"team": []})
    run_until(box, delivered(box))
    assert (["integration no longer configured"], 0) == ([e.reason for e in box.dead_letters()], len(receiver.requests))


class Recording:
    """A sender that answers from a list and records what it got."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[Notification] = []

    async def send(self, note: Notification) -> Result:
        self.sent.append(note)
        return Result(self.outcomes.pop(0) if self.outcomes else Outcome.DELIVERED, "scripted")


class Raising:
    async def send(self, note: Notification) -> Result:
        raise RuntimeError("http://secret.example/token-in-url")


def test_a_sender_that_raises_is_retried_without_keeping_its_message(tmp_path: Path) -> None:
    box = Outbox(tmp_path, {"team": [("odd/0", Raising())]}, SystemClock(), **FAST)
    box.enqueue(notification())
    run_until(box, lambda: box.pending()[0].attempts > 0)
    assert "sender raised RuntimeError" == box.pending()[0].reason


def test_metrics_count_outcomes_pending_and_latency(tmp_path: Path) -> None:
    sender = Recording(Outcome.RETRY)
    box = Outbox(tmp_path, {"team": [("fake/0", sender)]}, SystemClock(), **FAST)
    box.enqueue(notification())
    run_until(box, delivered(box))
    values = {(s.name, dict(s.labels).get("outcome", dict(s.labels).get("le"))): s.value for s in box.samples()}
    assert (1.0, 1.0, 0.0, 2.0, 0.0) == (
        values[("tripwired_notifications_total", "retry")],
        values[("tripwired_notifications_total", "delivered")],
        values[("tripwired_outbox_pending", None)],
        values[("tripwired_notification_latency_seconds_count", None)],
        values[("tripwired_outbox_dead_letters_total", None)],
    )


def test_dead_letters_are_counted(tmp_path: Path) -> None:
    box = Outbox(tmp_path, {"team": [("fake/0", Recording(Outcome.GIVE_UP))]}, SystemClock(), **FAST)
    box.enqueue(notification())
    run_until(box, delivered(box))
    assert [1.0] == [s.value for s in box.samples() if s.name == "tripwired_outbox_dead_letters_total"]


def test_emitted_samples_belong_to_declared_metrics(tmp_path: Path) -> None:
    box = Outbox(tmp_path, {"team": [("fake/0", Recording())]}, SystemClock(), **FAST)
    box.enqueue(notification())
    run_until(box, delivered(box))
    families = {m.name: m.type for m in box.metrics()}
    suffixes = ("_bucket", "_sum", "_count")
    emitted = {
        next(
            (
                s.name.removesuffix(x)
                for x in suffixes
                if s.name.endswith(x) and families.get(s.name.removesuffix(x)) is MetricType.HISTOGRAM
            ),
            s.name,
        )
        for s in box.samples()
    }
    assert set(families) == emitted


def test_beyond_its_capacity_the_outbox_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    box = outbox(tmp_path, f"http://127.0.0.1:{free_port()}", capacity=2)  # nothing listens
    for i in range(3):
        box.enqueue(group(i))
    dropped = {s.labels: s.value for s in box.samples() if s.name == "tripwired_notifications_dropped_total"}
    pending = [e.dedup_key for e in box.pending()]
    assert ([group(1).dedup_key, group(2).dedup_key], 1.0) == (
        pending,
        dropped[(("reason", "queue_full"), ("receiver", "team"))],
    )


def test_an_enqueue_the_database_refuses_is_counted_and_held_in_memory(tmp_path: Path) -> None:
    box = outbox(tmp_path, "http://127.0.0.1:9")
    on_db(box, "PRAGMA query_only = ON")  # every write now fails, as on a full disk
    box.enqueue(group(0))
    on_db(box, "PRAGMA query_only = OFF")
    box.enqueue(group(1))
    failures = [s.value for s in box.samples() if s.name == "tripwired_notifications_enqueue_failures_total"]
    assert ([1.0], [group(0).dedup_key, group(1).dedup_key]) == (failures, [e.dedup_key for e in box.pending()])


def idle_store(tmp_path: Path, clock: FakeClock) -> OutboxStore:
    return OutboxStore(tmp_path, clock, capacity=100, delivered_retention=3600.0, dead_retention=3600.0)


def test_an_idle_outbox_sleeps_until_its_next_purge(tmp_path: Path) -> None:
    """Nothing waits: the delivery loop is woken by the next enqueue, not by polling the database."""
    store = idle_store(tmp_path, FakeClock())
    _, sleep = store.cycle({}, 1, [])
    store.close()
    assert 60.0 == sleep


def test_the_outbox_sleeps_until_its_next_retry(tmp_path: Path) -> None:
    clock = FakeClock()
    store = idle_store(tmp_path, clock)
    store.enqueue(notification(), ["webhook/0"], {})
    [(row, _)] = store.cycle({}, 1, ["team"])[0]
    store.record(row, "retry", Update(PENDING, 1, clock.time() + 5.0, "503", any_state=False), False)
    _, sleep = store.cycle({}, 1, ["team"])
    store.close()
    assert 5.0 == sleep
