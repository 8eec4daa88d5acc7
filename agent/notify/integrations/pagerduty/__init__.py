"""The PagerDuty integration (Events API v2), as Alertmanager's notify/pagerduty/."""

from agent.notify.integrations.pagerduty.pagerduty import PagerdutySender

__all__ = ["PagerdutySender"]
