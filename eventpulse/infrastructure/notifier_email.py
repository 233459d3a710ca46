"""The e-mail channel: one message per notification over SMTP (aiosmtplib), with a plain-text
and an HTML body (every anomaly value HTML-escaped). SMTP 5xx answers are permanent failures;
4xx answers and connection trouble are retried."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from eventpulse.application.notify_messages import html_body, subject, text_body
from eventpulse.application.notify_ports import DeliveryFailed
from eventpulse.domain.notifications import Notification
from eventpulse.infrastructure.notify_channel_config import EmailSettings


def email_message(
    notification: Notification, settings: EmailSettings, api_url: str
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject(notification)
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message["Message-ID"] = make_msgid(domain="eventpulse")
    message.set_content(text_body(notification, api_url))
    message.add_alternative(html_body(notification, api_url), subtype="html")
    return message


class EmailSender:
    def __init__(self, settings: EmailSettings, api_url: str, timeout_s: float) -> None:
        self._settings = settings
        self._api_url = api_url
        self._timeout_s = timeout_s

    async def send(self, notification: Notification) -> None:
        settings = self._settings
        message = email_message(notification, settings, self._api_url)
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.host,
                port=settings.port,
                use_tls=settings.tls,
                start_tls=settings.starttls,
                username=settings.username,
                password=settings.password,
                timeout=self._timeout_s,
            )
        except aiosmtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.code < 600
            raise DeliveryFailed(f"SMTP {exc.code}: {exc.message}", permanent=permanent) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        return None
