"""The Opsgenie integration (create and close by alias), as Alertmanager's notify/opsgenie/."""

from agent.notify.integrations.opsgenie.opsgenie import OpsgenieSender

__all__ = ["OpsgenieSender"]
