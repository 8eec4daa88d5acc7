"""The Slack integration (incoming webhooks, one attachment), as Alertmanager's notify/slack/."""

from agent.notify.integrations.slack.slack import SlackSender

__all__ = ["SlackSender"]
