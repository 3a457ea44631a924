"""Customer e-mail over SMTP with the standard library: one connection per message, so a
dead server fails the message (and the outbox retries it) instead of a worker's whole run."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from openoms.config import Settings


class EmailNotConfigured(Exception):
    """No SMTP host is set: e-mail is off."""


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    text: str
    html: str | None
    message_id: str
    language: str


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str
    password: str
    starttls: bool
    use_ssl: bool
    timeout: float
    sender: str

    @classmethod
    def from_settings(cls, s: Settings) -> SmtpSettings:
        return cls(
            s.smtp_host,
            s.smtp_port,
            s.smtp_username,
            s.smtp_password,
            s.smtp_starttls,
            s.smtp_ssl,
            s.smtp_timeout_seconds,
            s.mail_from,
        )

    @property
    def enabled(self) -> bool:
        return bool(self.host.strip())

    @property
    def sender_domain(self) -> str:
        address = parseaddr(self.sender)[1]
        return address.rpartition("@")[2] or "openoms.invalid"


def build_message(mail: OutgoingEmail, sender: str) -> EmailMessage:
    """A plain-text message with an HTML alternative when the template has one."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = mail.message_id
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to order e-mail
    msg.set_content(mail.text)
    if mail.html:
        msg.add_alternative(mail.html, subtype="html")
    msg["Content-Language"] = mail.language  # after the body: set_content drops Content-* headers
    return msg


def send(mail: OutgoingEmail, smtp: SmtpSettings) -> None:
    """Hand one message to the SMTP server; raises on any refusal or network error."""
    if not smtp.enabled:
        raise EmailNotConfigured("SMTP not configured (OPENOMS_SMTP_HOST is empty)")
    msg = build_message(mail, smtp.sender)
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if smtp.use_ssl:
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    with client:
        if smtp.starttls and not smtp.use_ssl:
            client.starttls(context=context)
        if smtp.username:
            client.login(smtp.username, smtp.password)
        refused = client.send_message(msg)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)
