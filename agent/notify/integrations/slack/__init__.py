"""The Slack integration (incoming webhooks, Block Kit), as Alertmanager's notify/slack/."""

from agent.notify.integrations.slack.slack import SlackSender

__all__ = ["SlackSender"]
