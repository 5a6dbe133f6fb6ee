"""The email channel: one message per recipient through ``LIFECYCLE_SMTP_URL`` from
``LIFECYCLE_EMAIL_FROM`` (docs/notifications.md), plain text and HTML.

A password never crosses the wire in clear: ``smtps://`` speaks TLS from the start,
``smtp://`` upgrades with STARTTLS whenever the server offers it, and a server that
offers neither is not sent the password (the delivery fails, saying so) unless the URL
opts out with ``?allow_plaintext_auth=true``.

SMTP answers: a 4xx reply or a lost connection is retried, a 5xx reply (a refused
recipient, say) fails at once.
"""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qsl, unquote, urlsplit

import aiosmtplib
import httpx
from pydantic import BaseModel, SecretStr, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId
from db.queries.deliveries import ClaimedDelivery, insert_email_deliveries
from jobs.channels.base import (
    Attempt,
    ChannelKind,
    Chunk,
    Verdict,
    clean_header,
    describe,
    url_secrets,
)
from jobs.channels.webhook import empty_is_unset
from jobs.config import JobConfig
from jobs.runtime import Runtime

NAME = "email"
PLAINTEXT_OPT_OUT = "allow_plaintext_auth"
PLAINTEXT_REFUSED = (
    "refused to send the SMTP password in clear: the server offers no STARTTLS; use "
    f"smtps://, or a server that offers STARTTLS, or add ?{PLAINTEXT_OPT_OUT}=true to "
    "LIFECYCLE_SMTP_URL to send it unencrypted anyway"
)
_YES = frozenset({"1", "true", "yes"})


@dataclass(frozen=True)
class SmtpServer:
    """Where mail goes, from ``smtp://[user:password@]host:port`` (``smtps://``: TLS
    from the start; ``smtp://``: STARTTLS whenever the server offers it)."""

    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    allow_plaintext_auth: bool = False

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        tls = parts.scheme == "smtps"
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
        unknown = sorted(set(options) - {PLAINTEXT_OPT_OUT})
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(unknown)} (known: {PLAINTEXT_OPT_OUT})")
        return cls(
            hostname=parts.hostname or "localhost",
            port=parts.port or (465 if tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=tls,
            allow_plaintext_auth=options.get(PLAINTEXT_OPT_OUT, "").lower() in _YES,
        )


class EmailSettings(BaseModel):
    """``LIFECYCLE_SMTP_URL`` (unset: off) and ``LIFECYCLE_EMAIL_FROM``."""

    smtp_url: SecretStr | None = None
    email_from: str = "lifecycle@localhost"

    _unset = field_validator("smtp_url", mode="before")(empty_is_unset)

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        url = value.get_secret_value()
        if not url.startswith(("smtp://", "smtps://")):
            raise ValueError("must be an smtp://[user:password@]host:port (or smtps://) URL")
        SmtpServer.from_url(url)
        return value

    @field_validator("email_from")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if clean_header(value) != value:
            raise ValueError("must be one line (no control characters)")
        return value


def email_message(
    *, sender: str, to: str, subject: str, text: str, message_id: str
) -> EmailMessage:
    """Plain text and HTML (the same words) to one recipient; header values are made
    one line (a model name may hold CR/LF)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = clean_header(to)
    msg["Subject"] = clean_header(subject)
    # The same id on every retry, so a mail client shows a repeated send once.
    msg["Message-ID"] = clean_header(message_id)
    msg.set_content(text)
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())
    msg.add_alternative(
        f"<!doctype html><html><body><h3>{html.escape(subject)}</h3>{paragraphs}</body></html>",
        subtype="html",
    )
    return msg


def email_message_id(
    event_id: uuid.UUID, team_id: HostId | None, user_id: HostId | None, sender: str
) -> str:
    """``<event.team.user@domain>``: stable per delivery."""
    domain = sender.rsplit("@", 1)[-1].strip("> ") or "localhost"
    return f"<{event_id}.{team_id}.{user_id}@{domain}>"


async def send_email(server: SmtpServer, message: EmailMessage) -> Attempt:
    """Hand one message to the SMTP server (the caller bounds the exchange)."""
    client = aiosmtplib.SMTP(
        hostname=server.hostname,
        port=server.port,
        use_tls=server.use_tls,
        start_tls=False if server.use_tls else None,
    )
    try:
        async with client:
            if server.username is not None:
                encrypted = client.get_transport_info("sslcontext") is not None
                if not encrypted and not server.allow_plaintext_auth:
                    return Attempt("failed", PLAINTEXT_REFUSED)
                await client.login(server.username, server.password or "")
            await client.send_message(message)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        verdict: Verdict = "retry" if codes and all(400 <= c < 500 for c in codes) else "failed"
        return Attempt(verdict, describe(exc))
    except aiosmtplib.SMTPResponseException as exc:
        return Attempt("retry" if 400 <= exc.code < 500 else "failed", describe(exc))
    except aiosmtplib.SMTPNotSupported as exc:  # e.g. AUTH asked of a server without it
        return Attempt("failed", describe(exc))
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return Attempt("retry", f"connection error: {describe(exc)}")
    return Attempt("delivered")


@dataclass(frozen=True)
class EmailChannel:
    url: str
    sender: str
    name: str = NAME
    slots: int = 8
    # SMTP servers limit connections per client: a slow one keeps its slot.
    park_after_seconds: float | None = None

    def secrets(self) -> list[str]:
        return url_secrets(self.url)

    async def write(self, session: AsyncSession, runtime: Runtime, chunk: Chunk) -> int:
        return await insert_email_deliveries(
            session,
            runtime.platform,
            event_id=chunk.facts.event_id,
            messages=[(team.id, m.title, m.body) for team, m in chunk.messages],
            recipients=chunk.recipients.all(),
        )

    async def send(self, delivery: ClaimedDelivery, http: httpx.AsyncClient) -> Attempt:
        d = delivery
        if not d.target:  # queued again by `notifications retry`: still nowhere to send
            return Attempt("failed", "not sent: the recipient has no email address")
        message = email_message(
            sender=self.sender,
            to=d.target,
            subject=str(d.payload.get("subject", "")),
            text=str(d.payload.get("text", "")),
            message_id=email_message_id(d.event_id, d.team_id, d.user_id, self.sender),
        )
        return await send_email(SmtpServer.from_url(self.url), message)


def configure(settings: EmailSettings, config: JobConfig) -> EmailChannel | None:
    if settings.smtp_url is None:
        return None
    return EmailChannel(
        url=settings.smtp_url.get_secret_value(),
        sender=settings.email_from,
    )


KIND = ChannelKind(NAME, EmailSettings, configure)
