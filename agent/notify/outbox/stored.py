"""How a notification is stored in the outbox: JSON that reads back into the same Notification."""

from __future__ import annotations

import json
from typing import Any

from agent.model import Alert, AlertState
from agent.notify.model import Notification


def notification_to_json(notification: Notification) -> str:
    """The stored form of a notification."""
    return json.dumps(
        {
            "receiver": notification.receiver,
            "group_key": notification.group_key,
            "group_labels": notification.group_labels,
            "alerts": [_alert_to_dict(a) for a in notification.alerts],
            "created_at": notification.created_at,
        }
    )


def notification_from_json(text: str) -> Notification:
    """The notification a stored form holds (its `previous_sent_at` is not kept)."""
    data = json.loads(text)
    return Notification(
        receiver=data["receiver"],
        group_key=data["group_key"],
        group_labels=_pairs(data["group_labels"]),
        alerts=tuple(_alert_from_dict(a) for a in data["alerts"]),
        created_at=float(data["created_at"]),
    )


def _alert_to_dict(alert: Alert) -> dict[str, Any]:
    return {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "state": alert.state.value,
        "value": alert.value,
        "active_at": alert.active_at,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "resolved_at": alert.resolved_at,
        "generator_url": alert.generator_url,
        "rule": alert.rule,
        "fingerprint": alert.fingerprint,
    }


def _alert_from_dict(data: dict[str, Any]) -> Alert:
    return Alert(
        labels=_pairs(data["labels"]),
        annotations=_pairs(data["annotations"]),
        state=AlertState(data["state"]),
        value=float(data["value"]),
        active_at=float(data["active_at"]),
        starts_at=float(data["starts_at"]),
        ends_at=float(data["ends_at"]),
        resolved_at=None if data["resolved_at"] is None else float(data["resolved_at"]),
        generator_url=data["generator_url"],
        rule=data["rule"],
        fingerprint=data["fingerprint"],
    )


def _pairs(items: list[list[str]]) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in items)
