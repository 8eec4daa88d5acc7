"""The email integration (SMTP with STARTTLS or TLS, html and text bodies), as Alertmanager's notify/email/."""

from agent.notify.integrations.email.email import EmailSender

__all__ = ["EmailSender"]
