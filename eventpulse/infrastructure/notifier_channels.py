"""Build each configured channel's sender from its settings."""

from __future__ import annotations

from eventpulse.application.notify_ports import Sender
from eventpulse.infrastructure.notifier_email import EmailSender
from eventpulse.infrastructure.notifier_log import LogSender
from eventpulse.infrastructure.notifier_slack import SlackSender
from eventpulse.infrastructure.notifier_webhook import WebhookSender
from eventpulse.infrastructure.notify_channel_config import (
    EmailSettings,
    SlackSettings,
    WebhookSettings,
)
from eventpulse.infrastructure.notify_config import NotificationConfig


def build_senders(config: NotificationConfig, api_url: str) -> dict[str, Sender]:
    senders: dict[str, Sender] = {}
    for name, spec in config.plan.channels.items():
        settings = config.settings[name]
        sender: Sender
        if isinstance(settings, SlackSettings):
            sender = SlackSender(settings.webhook_url, api_url, spec.concurrency)
        elif isinstance(settings, EmailSettings):
            sender = EmailSender(settings, api_url, spec.retry.timeout_s)
        elif isinstance(settings, WebhookSettings):
            sender = WebhookSender(settings.url, settings.secret, spec.concurrency)
        else:
            sender = LogSender(name, api_url)
        senders[name] = sender
    return senders
