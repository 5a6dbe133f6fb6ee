"""Sending one delivery: an HTTP POST (webhook, Slack) with httpx, an email with
aiosmtplib, and what the answer means (docs/notifications.md).

2xx is delivered; 408, 429, 5xx, timeouts and connection errors are worth a retry; any
other answer fails the delivery at once. SMTP: a 4xx reply or a lost connection is
retried, a 5xx reply (a refused recipient, say) fails at once. Error texts are scrubbed
of every configured secret before they are stored or logged.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Literal
from urllib.parse import unquote, urlsplit

import aiosmtplib
import httpx

RETRIED_STATUSES = frozenset({408, 429})
MAX_ERROR_CHARS = 500

Verdict = Literal["delivered", "retry", "failed"]


@dataclass(frozen=True)
class Attempt:
    """The result of one send."""

    verdict: Verdict
    error: str | None = None
    retry_after_seconds: float | None = None


def classify_status(status: int) -> Verdict:
    """What an HTTP status means for a delivery."""
    if 200 <= status < 300:
        return "delivered"
    if status in RETRIED_STATUSES or status >= 500:
        return "retry"
    return "failed"


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (and its URL-quoted form) replaced by ``***``, cut short."""
    for secret in secrets:
        if secret:
            for form in {secret, unquote(secret)}:
                text = text.replace(form, "***")
    return text[:MAX_ERROR_CHARS]


def _describe(exc: BaseException) -> str:
    detail = str(exc).strip()
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


async def post_json(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]
) -> Attempt:
    """POST ``body``; the client's timeout bounds the whole exchange."""
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        return Attempt("retry", f"timeout: {_describe(exc)}")
    except httpx.TransportError as exc:
        return Attempt("retry", f"connection error: {_describe(exc)}")
    except httpx.HTTPError as exc:
        return Attempt("failed", _describe(exc))
    verdict = classify_status(response.status_code)
    if verdict == "delivered":
        return Attempt("delivered")
    snippet = response.text[:200].strip().replace("\n", " ")
    error = f"HTTP {response.status_code}" + (f": {snippet}" if snippet else "")
    return Attempt(verdict, error, retry_after(response.headers.get("Retry-After")))


@dataclass(frozen=True)
class SmtpServer:
    """Where mail goes, from ``smtp://[user:password@]host:port`` (``smtps://``: TLS
    from the start; ``smtp://``: STARTTLS whenever the server offers it)."""

    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        tls = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname or "localhost",
            port=parts.port or (465 if tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=tls,
        )


async def send_email(server: SmtpServer, message: EmailMessage, timeout_s: float) -> Attempt:
    """Hand one message to the SMTP server."""
    try:
        await aiosmtplib.send(
            message,
            hostname=server.hostname,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.use_tls,
            start_tls=None if not server.use_tls else False,
            timeout=timeout_s,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        verdict: Verdict = "retry" if codes and all(400 <= c < 500 for c in codes) else "failed"
        return Attempt(verdict, _describe(exc))
    except aiosmtplib.SMTPResponseException as exc:
        return Attempt("retry" if 400 <= exc.code < 500 else "failed", _describe(exc))
    except aiosmtplib.SMTPNotSupported as exc:  # e.g. AUTH asked of a server without it
        return Attempt("failed", _describe(exc))
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return Attempt("retry", f"connection error: {_describe(exc)}")
    return Attempt("delivered")
