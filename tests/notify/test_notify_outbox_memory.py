"""The outbox's memory lane: what the state disk refuses is still delivered, and written when it recovers."""

from __future__ import annotations

import json
from pathlib import Path

from agent.notify.integrations.webhook.webhook import DEDUP_HEADER
from agent.notify.outbox import Outbox
from tests.notify.test_notify_http import firing, notification, resolved
from tests.notify.test_notify_outbox import delivered, group, on_db, outbox, run_until
from tests.receiver import Receiver, Reply


def refuse_writes(box: Outbox, refused: bool = True) -> None:
    """Every write to the state database fails from now on (or works again), as on a full disk."""
    on_db(box, f"PRAGMA query_only = {'ON' if refused else 'OFF'}")


def in_memory(box: Outbox) -> float:
    return sum(s.value for s in box.samples() if s.name == "tripwired_notifications_queued_in_memory")


def stored_states(tmp_path: Path) -> list[str]:
    box = outbox(tmp_path, "http://127.0.0.1:9")
    try:
        return [str(r[0]) for r in on_db(box, "SELECT state FROM outbox ORDER BY seq")]
    finally:
        box.close()


def test_a_notification_the_disk_refuses_is_delivered_from_memory(tmp_path: Path, receiver: Receiver) -> None:
    box = outbox(tmp_path, receiver.url)
    refuse_writes(box)
    note = notification()
    box.enqueue(note)
    held = in_memory(box)
    run_until(box, delivered(box))
    assert (1.0, [note.dedup_key], 0.0) == (held, [r.headers[DEDUP_HEADER] for r in receiver.requests], in_memory(box))


def test_a_retry_from_memory_uses_the_outbox_backoff(tmp_path: Path, receiver: Receiver) -> None:
    receiver.script.extend([Reply(500), Reply(500)])
    box = outbox(tmp_path, receiver.url)
    refuse_writes(box)
    box.enqueue(notification())
    run_until(box, delivered(box))
    assert 3 == len(receiver.requests)


def test_an_undelivered_notification_is_written_to_the_database_when_the_disk_recovers(tmp_path: Path) -> None:
    box = outbox(tmp_path, "http://127.0.0.1:9")  # nothing listens: it stays pending
    refuse_writes(box)
    box.enqueue(group(0))
    refuse_writes(box, refused=False)
    run_until(box, lambda: in_memory(box) == 0)
    box.close()
    assert ["pending"] == stored_states(tmp_path)


def test_a_delivery_from_memory_is_not_sent_again_after_the_disk_recovers_and_the_daemon_restarts(
    tmp_path: Path, receiver: Receiver
) -> None:
    box = outbox(tmp_path, receiver.url)
    refuse_writes(box)
    box.enqueue(notification())
    run_until(box, delivered(box))
    refuse_writes(box, refused=False)
    run_until(box, lambda: in_memory(box) == 0 and stored_states(tmp_path) == ["delivered"])
    box.close()
    restarted = outbox(tmp_path, receiver.url)  # its dispatcher decides the same notification again
    restarted.enqueue(notification())
    run_until(restarted, delivered(restarted), then=0.2)
    assert 1 == len(receiver.requests)


def test_a_newer_notification_of_a_group_held_in_memory_replaces_the_stored_one(
    tmp_path: Path, receiver: Receiver
) -> None:
    box = outbox(tmp_path, receiver.url)
    alert = firing()
    box.enqueue(notification(alert))  # stored, not yet delivered
    refuse_writes(box)
    box.enqueue(notification(resolved(alert)))  # refused: in memory, newer than the stored trigger
    run_until(box, delivered(box))
    statuses = [json.loads(r.body)["status"] for r in receiver.requests]
    assert ["resolved"] == statuses


def test_the_memory_lane_is_bounded_by_the_queue_capacity(tmp_path: Path) -> None:
    box = outbox(tmp_path, "http://127.0.0.1:9", capacity=2)
    refuse_writes(box)
    for i in range(3):
        box.enqueue(group(i))
    dropped = {s.labels: s.value for s in box.samples() if s.name == "tripwired_notifications_dropped_total"}
    assert (2.0, [group(1).dedup_key, group(2).dedup_key], 1.0) == (
        in_memory(box),
        [e.dedup_key for e in box.pending()],
        dropped[(("reason", "queue_full"), ("receiver", "team"))],
    )


def test_the_same_notification_refused_twice_is_held_once(tmp_path: Path) -> None:
    box = outbox(tmp_path, "http://127.0.0.1:9")
    refuse_writes(box)
    box.enqueue(group(0))
    box.enqueue(group(0))
    assert 1.0 == in_memory(box)
