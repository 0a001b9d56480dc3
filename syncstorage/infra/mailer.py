"""Outgoing mail (password reset codes) through SMTP."""
from __future__ import annotations

import smtplib
from email.message import EmailMessage

from syncstorage.infra.dbengine import BackendError


class Mailer:
    def __init__(self, smtp_settings):
        self.host = smtp_settings.host
        self.port = smtp_settings.port
        self.sender = smtp_settings.sender
        self.timeout = smtp_settings.timeout

    def send(self, to: str, subject: str, body: str) -> None:
        """Deliver one plain-text message; BackendError if the SMTP server refuses or is down."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise BackendError(f"cannot send mail through {self.host}:{self.port}: {error}") from error
