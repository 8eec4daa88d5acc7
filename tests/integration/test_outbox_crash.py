"""kill -9 an outbox mid-delivery and while its receiver is down: after restart everything arrives, once.

A subprocess owns the outbox and delivers to a slow webhook receiver in this process, which
records every request by its dedup key. "Once" means: nothing the outbox had recorded as
acknowledged is sent again; only requests in flight at the kill may arrive a second time.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from agent.notify.integrations.webhook.webhook import DEDUP_HEADER
from agent.notify.model import Notification
from tests.conftest import REPO, free_port
from tests.notify.test_notify_http import firing, notification
from tests.receiver import Receiver, Reply

CONCURRENCY = 4
FIRST_BATCH = 40
SECOND_BATCH = 20

CHILD = """
import asyncio, sys
from agent.clock import SystemClock
from agent.config.receivers import HttpClientConfig, WebhookConfig
from agent.config.schema import Duration, Secret
from agent.notify.outbox import Outbox
from agent.notify.integrations.webhook.webhook import WebhookSender
from tests.integration.test_outbox_crash import CONCURRENCY, note

state_dir, url, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

async def main() -> None:
    config = WebhookConfig(url=Secret(url + "/hook"), http_config=HttpClientConfig(timeout=Duration(2)))
    sender = WebhookSender(config, external_url="http://agent")
    box = Outbox(state_dir, {"team": [("webhook/0", sender)]}, SystemClock(),
                 max_concurrency_per_receiver=CONCURRENCY, backoff_base=0.05, backoff_max=0.3)
    for i in range(first, last):
        box.enqueue(note(i))
    print("enqueued", flush=True)
    await box.run(asyncio.Event())

asyncio.run(main())
"""


def note(i: int) -> Notification:
    """The i-th notification: each its own alert group, so none supersedes another."""
    return notification(firing(instance=f"h{i}"), group_key=f'{{}}:{{instance="h{i}"}}')


def start_child(state_dir: Path, url: str, first: int, last: int) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(state_dir), url, str(first), str(last)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdout is not None
    assert "enqueued" == child.stdout.readline().strip()
    return child


def kill_9(child: subprocess.Popen[str]) -> None:
    child.kill()  # SIGKILL: no finally, no flush, no goodbye
    child.wait(timeout=10)


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def acknowledged(state_dir: Path) -> set[str]:
    """Dedup keys the outbox has recorded as delivered."""
    with sqlite3.connect(state_dir / "tripwired.db") as db:
        return {row[0] for row in db.execute("SELECT dedup_key FROM outbox WHERE state = 'delivered'")}


def attempts(state_dir: Path) -> int:
    """Delivery attempts the outbox has recorded, over all its notifications."""
    with sqlite3.connect(state_dir / "tripwired.db") as db:
        return int(db.execute("SELECT coalesce(sum(attempts), 0) FROM outbox").fetchone()[0])


def arrivals(*receivers: Receiver) -> Counter[str]:
    return Counter(r.headers[DEDUP_HEADER] for receiver in receivers for r in receiver.requests)


def test_kill_9_mid_flight_and_while_the_receiver_is_down_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    port = free_port()
    slow = Receiver(port, default=Reply(delay=0.1)).start()
    children: list[subprocess.Popen[str]] = []
    back: Receiver | None = None
    try:
        # 1. Killed while deliveries are in flight.
        children.append(start_child(tmp_path, slow.url, 0, FIRST_BATCH))
        wait_for(lambda: len(slow.requests) >= 10)
        kill_9(children[-1])
        acked_before, seen_before = acknowledged(tmp_path), arrivals(slow)
        slow.stop()

        # 2. Restarted while the receiver is down (it re-enqueues the same notifications and 20 more), killed again.
        attempts_before = attempts(tmp_path)
        children.append(start_child(tmp_path, slow.url, 0, FIRST_BATCH + SECOND_BATCH))
        wait_for(lambda: attempts(tmp_path) >= attempts_before + 3)  # several refused attempts
        kill_9(children[-1])

        # 3. The receiver is back; a new outbox delivers the rest.
        back = Receiver(port).start()
        children.append(start_child(tmp_path, back.url, 0, 0))
        everything = {note(i).dedup_key for i in range(FIRST_BATCH + SECOND_BATCH)}
        wait_for(lambda: everything <= acknowledged(tmp_path))
    finally:
        for child in children:
            if child.poll() is None:
                kill_9(child)
        slow.stop()
        if back is not None:
            back.stop()

    seen = arrivals(slow, back)
    resent_after_ack = {k for k in acked_before if seen[k] != seen_before[k]}
    repeated = {k for k, n in seen.items() if n > 1}
    assert (set(), set(), True) == (everything - set(seen), resent_after_ack, len(repeated) <= CONCURRENCY)
