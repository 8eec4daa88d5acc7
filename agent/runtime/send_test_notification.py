"""`tripwired notify test --receiver NAME`: send a clearly marked test notification through each integration."""

from __future__ import annotations

from typing import TextIO

from agent.clock import SystemClock
from agent.config.schema import Config
from agent.notify.integrations.registry import build_senders, close_senders
from agent.notify.model import Outcome
from agent.notify.probe import send_test, test_notification
from agent.runtime.daemon import external_url


async def send_test_notification(config: Config, receiver: str, out: TextIO) -> int:
    """0 when every integration of the receiver accepted it, 1 otherwise, 2 for an unknown receiver."""
    integrations = build_senders([r for r in config.receivers if r.name == receiver], external_url=external_url(config))
    if receiver not in integrations:
        known = ", ".join(r.name for r in config.receivers) or "none"
        out.write(f"no receiver named {receiver!r} (configured: {known})\n")
        return 2
    try:
        results = await send_test(integrations[receiver], test_notification(receiver, SystemClock().time()))
    finally:
        await close_senders(integrations)
    for name, result in results.items():
        out.write(f"{receiver} {name}: {result.outcome.value}{': ' + result.reason if result.reason else ''}\n")
    return 0 if all(r.outcome is Outcome.DELIVERED for r in results.values()) else 1
