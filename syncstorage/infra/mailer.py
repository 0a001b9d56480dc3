"""Outgoing mail (password reset codes) through SMTP."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from syncstorage.infra.dbengine import BackendError


class Mailer:
    def __init__(self, smtp_settings):
        self.host = smtp_settings.host
        self.port = smtp_settings.port
        self.sender = smtp_settings.sender
        self.timeout = smtp_settings.timeout
        self.security = smtp_settings.security
        self.username = smtp_settings.username
        self.password = smtp_settings.password

    def send(self, to: str, subject: str, body: str) -> None:
        """Deliver one plain-text message; BackendError if the SMTP server refuses or is down."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise BackendError(f"cannot send mail through {self.host}:{self.port}: {error}") from error

    def _connect(self) -> smtplib.SMTP:
        """A connection secured as ``[smtp] security`` says, certificates verified."""
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=ssl.create_default_context())
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            try:
                smtp.starttls(context=ssl.create_default_context())
            except BaseException:
                smtp.close()
                raise
        return smtp
