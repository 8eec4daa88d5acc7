"""The durable outbox, split by role.

- delivery.py      `Outbox`: enqueue, the delivery loop on the event loop, metrics and status;
- store.py         `OutboxStore`: the SQLite table, on its own database thread (agent/statedb.py
                   `StateDbThread`), with the delivered rows that recognise a re-sent duplicate;
- memory_lane.py   rows the state disk refused, delivered from memory until it takes them;
- stored.py        the stored (JSON) form of a notification.

When to retry and when to give up is agent/notify/retry.py; what is retryable, agent/notify/http.py.
"""

from agent.notify.outbox.delivery import Outbox
from agent.notify.outbox.store import METRICS, Entry

__all__ = ["METRICS", "Entry", "Outbox"]
