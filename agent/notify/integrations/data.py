"""What every integration builds its payload from: Alertmanager's template data and its default title.

Alertmanager's integrations all render one `template.Data` (template/template.go) and share the
default title (`[FIRING:2] DiskFull`, default.tmpl). Here is that shared part, so that no
integration imports another: the alerts an integration should hear about, Go's time format,
common labels and annotations, the data itself and the title.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from agent.model import Alert, AlertState
from agent.notify.model import Notification, group_status
from agent.notify.template import alert_status, common, go_quote_meta

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time, what Alertmanager sends as a firing alert's endsAt


def go_time(seconds: float) -> str:
    """A Unix time as Go's time.Time marshals to JSON (RFC 3339, fraction without trailing zeros, Z)."""
    moment = datetime.fromtimestamp(seconds, UTC)
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def group_key_hash(notification: Notification) -> str:
    """SHA-256 of the group key, hex: Alertmanager's stable id of a group (PagerDuty's dedup_key,
    Opsgenie's alias), the same for its trigger and its resolve."""
    return hashlib.sha256(notification.group_key.encode()).hexdigest()


def alerts_to_send(notification: Notification, send_resolved: bool) -> tuple[Alert, ...]:
    """The alerts an integration should hear about: resolved ones only if it wants them."""
    if send_resolved:
        return notification.alerts
    return tuple(a for a in notification.alerts if a.state is AlertState.FIRING)


def data_json(notification: Notification, alerts: Sequence[Alert], external_url: str) -> dict[str, Any]:
    """Alertmanager's template data for a notification as its JSON has it (the webhook body); the model
    templates run on is `agent.notify.template.Data`."""
    labels = [dict(a.labels) for a in alerts]
    return {
        "receiver": go_quote_meta(notification.receiver),
        "status": group_status(alerts).value,
        "alerts": [_alert_json(a) for a in alerts],
        "groupLabels": dict(notification.group_labels),
        "commonLabels": common(labels),
        "commonAnnotations": common([dict(a.annotations) for a in alerts]),
        "externalURL": external_url,
    }


def _alert_json(alert: Alert) -> dict[str, Any]:
    firing = alert.state is AlertState.FIRING
    return {
        "status": alert_status(alert),
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": go_time(alert.starts_at),
        # Alertmanager zeroes a firing alert's endsAt before notifying (dispatch.go flush).
        "endsAt": ZERO_TIME if firing else go_time(alert.ends_at),
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def title(notification: Notification, alerts: Sequence[Alert]) -> str:
    """`[FIRING:2] DiskFull lake` — Alertmanager's default title: status, count, group label values."""
    status = group_status(alerts)
    firing = sum(1 for a in alerts if a.state is AlertState.FIRING)
    count = firing if firing else len(alerts)
    values = " ".join(v for _, v in notification.group_labels) or _alert_names(alerts)
    return f"[{status.value.upper()}:{count}] {values}"


def _alert_names(alerts: Sequence[Alert]) -> str:
    return ", ".join(sorted({a.name for a in alerts}))
