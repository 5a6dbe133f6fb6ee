"""The channel seam (docs/notifications.md): what every delivery channel provides, and the
pieces the channels share (the HTTP exchange, secret and header hygiene).

A channel is one module of ``jobs.channels`` defining ``KIND``: its name, the settings it
reads, and how it is configured into a :class:`Channel`. The rules that hold for every
channel (one deadline for the whole exchange, a scrubbed and bounded error, a claim that
outlasts any send, a graceful stop) are applied once by ``jobs.deliveries`` around
:meth:`Channel.send`; a channel only says what it writes, how it sends and what an answer
means.
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId
from db.queries.deliveries import ClaimedDelivery, insert_team_deliveries
from db.queries.recipients import TeamRecipients
from jobs.config import JobConfig
from jobs.notification_text import EventFacts, Message
from jobs.runtime import Runtime

Verdict = Literal["delivered", "retry", "failed"]
RETRIED_STATUSES = frozenset({408, 429})
# How much of any answer is read: enough for an error message, never the whole body.
ANSWER_BYTES = 4096
MAX_ERROR_CHARS = 300
EXCERPT_CHARS = 200
# Sends of one web channel starting or awaiting an answer at once (httpx's pool gets
# slower, not faster, with many requests contending on one client: on loopback 8 in
# flight beat 32 by 3x), and how long a slow one holds its slot before it steps aside.
HTTP_SLOTS = 8
HTTP_PARK_AFTER_SECONDS = 0.05
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Attempt:
    """The result of one send."""

    verdict: Verdict
    error: str | None = None
    retry_after_seconds: float | None = None


@dataclass(frozen=True)
class TeamInfo:
    """A team as messages name it."""

    id: HostId
    slug: str | None
    name: str | None


@dataclass(frozen=True)
class TeamUsage:
    """One affected team in an event-wide message."""

    label: str
    counts: dict[str, int]
    history: dict[str, int]


@dataclass(frozen=True)
class Chunk:
    """One fan-out chunk, as every channel sees it: the event, each team's message and
    (in the last chunk only) every affected team, for event-wide messages."""

    facts: EventFacts
    messages: Sequence[tuple[TeamInfo, Message]]
    # Who the recipients query names for these teams, each row judged (see
    # db/queries/recipients.py): read once per chunk, shared by every channel.
    recipients: TeamRecipients
    event_wide: Sequence[TeamUsage] | None


class Channel(Protocol):
    """A configured (enabled) delivery channel."""

    @property
    def name(self) -> str:
        """The channel's name, as stored in ``deliveries.channel``."""
        ...

    @property
    def slots(self) -> int:
        """Sends of this channel that may be starting or awaiting an answer at once."""
        ...

    @property
    def park_after_seconds(self) -> float | None:
        """A send still unanswered after this long gives its slot to the next one (it goes
        on until the deadline, counted in the sender's bound on sends in flight); ``None``:
        it keeps its slot (SMTP servers limit connections per client)."""
        ...

    def secrets(self) -> list[str]:
        """Every configured value that must never reach a log, an error or the CLI."""
        ...

    async def write(self, session: AsyncSession, runtime: Runtime, chunk: Chunk) -> int:
        """Write this channel's deliveries of ``chunk`` in the fan-out's transaction."""
        ...

    async def send(self, delivery: ClaimedDelivery, http: httpx.AsyncClient) -> Attempt:
        """Send one delivery and say what the answer means (no deadline of its own)."""
        ...


@dataclass(frozen=True)
class ChannelKind:
    """A channel as the registry lists it: its name, the settings model the worker's
    settings include, and ``configure`` (``None`` when its settings leave it off)."""

    name: str
    settings: type[BaseModel]
    configure: Callable[[Any, JobConfig], Channel | None]


def classify_status(status: int) -> Verdict:
    """What an HTTP status means for a delivery."""
    if 200 <= status < 300:
        return "delivered"
    if status in RETRIED_STATUSES or status >= 500:
        return "retry"
    return "failed"


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds, or an HTTP date (a date
    without a zone, such as ``-0000``, is taken as UTC)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return None if math.isnan(seconds) else max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def clean_header(value: str) -> str:
    """``value`` fit for a mail or HTTP header: control characters (CR and LF above all,
    which would start a new header) become one space."""
    return _CONTROL.sub(" ", value).strip()


def public_target(url: str) -> str:
    """``scheme://host[:port]`` of a URL: what may be shown of a webhook (its path,
    query and credentials can hold tokens, so they are never stored or printed)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


async def write_web_rows(
    session: AsyncSession,
    runtime: Runtime,
    chunk: Chunk,
    *,
    channel: str,
    url: str,
    payloads: dict[HostId | None, dict[str, Any]],
) -> int:
    """A web channel's rows for ``chunk``: one per key of ``payloads`` (a team, or
    ``None`` for the event), each showing only the ``scheme://host`` of ``url``."""
    return await insert_team_deliveries(
        session,
        runtime.platform,
        event_id=chunk.facts.event_id,
        channel=channel,
        target=public_target(url),
        payloads=payloads,
    )


def url_secrets(url: str) -> list[str]:
    """What of a configured URL must never be shown: the URL itself, its password, and
    every component of its path and query (a Slack token is a path component, many
    webhooks carry one in the query)."""
    parts = urlsplit(url)
    found = [url, parts.path, parts.query, parts.password or ""]
    found += parts.path.split("/") + parts.query.split("&")
    found += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    return [s for s in found if s]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` on one line with every secret (and its URL-quoted form) replaced by
    ``***`` (the longest first, so a part never uncovers the rest), cut short."""
    forms = {form for secret in secrets if secret for form in (secret, unquote(secret))}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def describe(exc: BaseException) -> str:
    detail = str(exc).strip()
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


async def _excerpt(response: httpx.Response) -> str:
    """The first ``ANSWER_BYTES`` of an answer (the rest is never read), on one line."""
    kept = b""
    async for part in response.aiter_raw():
        kept += part
        if len(kept) >= ANSWER_BYTES:
            break
    text = kept[:ANSWER_BYTES].decode("utf-8", "replace")
    return " ".join(text.split())[:EXCERPT_CHARS]


async def post_json(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]
) -> Attempt:
    """POST ``body`` and read at most ``ANSWER_BYTES`` of the answer (uncompressed: a
    small compressed body could unpack to any size). The caller bounds the exchange."""
    try:
        async with client.stream(
            "POST", url, content=body, headers={**headers, "Accept-Encoding": "identity"}
        ) as response:
            excerpt = await _excerpt(response)
    except httpx.TimeoutException as exc:
        return Attempt("retry", f"timeout: {describe(exc)}")
    except httpx.TransportError as exc:
        return Attempt("retry", f"connection error: {describe(exc)}")
    except httpx.HTTPError as exc:
        return Attempt("failed", describe(exc))
    verdict = classify_status(response.status_code)
    if verdict == "delivered":
        return Attempt("delivered")
    error = f"HTTP {response.status_code}" + (f": {excerpt}" if excerpt else "")
    return Attempt(verdict, error, retry_after(response.headers.get("Retry-After")))
