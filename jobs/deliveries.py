"""Deliveries: the channels' outbox, written with the notifications and sent by a job.

``write_deliveries`` runs inside each fan-out transaction, so the notifications and the
deliveries of a chunk commit together and a crash between commit and send loses nothing.
``send_deliveries`` claims due rows (``FOR UPDATE SKIP LOCKED``, earliest due first),
sends them concurrently, and records each outcome: delivered, due again after an
exponential backoff with jitter (capped), or failed for good. A claim pushes the row's
next attempt a little ahead, so the rows of a sender that dies fall due again on their
own; that repeat is the only way a receiver sees a delivery twice, and it carries the
same ``Idempotency-Key``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId
from db.queries.deliveries import (
    ClaimedDelivery,
    Outcome,
    claim_due_deliveries,
    insert_email_deliveries,
    insert_team_deliveries,
    record_outcomes,
    seconds_until_next_due,
)
from db.queries.recipients import TeamRecipients
from jobs.channels import (
    EMAIL,
    SLACK,
    WEBHOOK,
    TeamInfo,
    TeamUsage,
    email_message,
    email_message_id,
    encode_body,
    idempotency_key,
    public_target,
    slack_message,
    webhook_body,
    webhook_headers,
)
from jobs.notification_text import EventFacts, Message
from jobs.runtime import Runtime
from jobs.senders import Attempt, SmtpServer, post_json, scrub, send_email
from jobs.spec import CronSpec, EmptyPayload, JobSpec

log = logging.getLogger("lifecycle.deliveries")

JOB = "send_deliveries"
BATCH_SIZE = 32
# Requests in flight at once. httpx's connection pool gets slower, not faster, with many
# concurrent requests on one client (measured on loopback: 8 in flight beat 32 by 3x).
HTTP_CONCURRENCY = 8
EMAIL_CONCURRENCY = 8
# Keep going while the next retry is this close; the every-minute cron takes the rest.
LINGER_SECONDS = 30.0
QUIET_LOGGERS = ("httpx", "httpcore")


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt ``n + 1`` after ``n`` failed ones: ``base * 2**(n-1)``,
    capped, with jitter (a uniformly random 50-100 % of it) so retries spread out."""

    base_seconds: float = 5.0
    cap_seconds: float = 3600.0

    def delay(self, attempts: int, rng: random.Random) -> float:
        full = min(self.cap_seconds, self.base_seconds * 2.0 ** max(0, attempts - 1))
        return full / 2 + rng.uniform(0, full / 2)


def secrets_of(runtime: Runtime) -> list[str]:
    """Every configured secret (and secret URL), to scrub from error texts."""
    s = runtime.settings
    values = [s.webhook_secret, s.webhook_url, s.slack_webhook_url, s.smtp_url]
    out = [v.get_secret_value() for v in values if v is not None]
    if s.smtp_url is not None:
        password = SmtpServer.from_url(s.smtp_url.get_secret_value()).password
        out += [password] if password else []
    return out


def channels_of(runtime: Runtime) -> list[str]:
    """The channels configured, besides the always-on table."""
    s = runtime.settings
    on = [(WEBHOOK, s.webhook_url), (SLACK, s.slack_webhook_url), (EMAIL, s.smtp_url)]
    return [name for name, setting in on if setting is not None]


async def write_deliveries(
    session: AsyncSession,
    runtime: Runtime,
    facts: EventFacts,
    chunk: Sequence[tuple[TeamInfo, Message]],
    recipients: TeamRecipients,
    *,
    event_wide: Sequence[TeamUsage] | None = None,
) -> int:
    """The deliveries of one fan-out chunk, in the caller's transaction: a webhook call
    per team, an email per recipient of ``recipients``, and (``event_wide`` given, in the
    last chunk) one Slack message for the event. Returns the number written."""
    s = runtime.settings
    written = 0
    if s.webhook_url is not None and chunk:
        payloads: dict[HostId | None, dict[str, Any]] = {
            team.id: webhook_body(message, team, recipients.of(team.id)) for team, message in chunk
        }
        written += await insert_team_deliveries(
            session,
            runtime.platform,
            event_id=facts.event_id,
            channel=WEBHOOK,
            target=public_target(s.webhook_url.get_secret_value()),
            payloads=payloads,
        )
    if s.smtp_url is not None and chunk:
        written += await insert_email_deliveries(
            session,
            runtime.platform,
            event_id=facts.event_id,
            messages=[(team.id, m.title, m.body) for team, m in chunk],
            recipients=recipients.all(),
        )
    if s.slack_webhook_url is not None and event_wide is not None and chunk:
        title = chunk[0][1].title
        written += await insert_team_deliveries(
            session,
            runtime.platform,
            event_id=facts.event_id,
            channel=SLACK,
            target=public_target(s.slack_webhook_url.get_secret_value()),
            payloads={
                None: slack_message(
                    facts, title, event_wide, label_order=runtime.platform.label_order()
                )
            },
        )
    return written


class Sender:
    """Sends claimed deliveries over one HTTP client; knows the channels' settings."""

    def __init__(self, runtime: Runtime, client: httpx.AsyncClient) -> None:
        # httpx logs every request with its full URL at INFO, and webhook URLs (Slack's
        # above all) carry tokens in their path: keep those loggers to warnings.
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        self.runtime = runtime
        self.client = client
        self.secrets = secrets_of(runtime)
        self.email_slots = asyncio.Semaphore(EMAIL_CONCURRENCY)
        self.http_slots = asyncio.Semaphore(HTTP_CONCURRENCY)

    async def send(self, d: ClaimedDelivery) -> Attempt:
        s = self.runtime.settings
        if d.channel == WEBHOOK:
            if s.webhook_url is None or s.webhook_secret is None:
                return Attempt("failed", "LIFECYCLE_WEBHOOK_URL is not set")
            body = encode_body(d.payload)
            headers = webhook_headers(
                s.webhook_secret.get_secret_value(),
                int(time.time()),
                body,
                idempotency_key(d.event_id, d.team_id),
            )
            async with self.http_slots:
                return await post_json(self.client, s.webhook_url.get_secret_value(), body, headers)
        if d.channel == SLACK:
            if s.slack_webhook_url is None:
                return Attempt("failed", "LIFECYCLE_SLACK_WEBHOOK_URL is not set")
            body = encode_body(d.payload)
            headers = {"Content-Type": "application/json"}
            async with self.http_slots:
                return await post_json(
                    self.client, s.slack_webhook_url.get_secret_value(), body, headers
                )
        if d.channel == EMAIL:
            if s.smtp_url is None:
                return Attempt("failed", "LIFECYCLE_SMTP_URL is not set")
            if not d.target:  # queued again by `notifications retry`: still nowhere to send
                return Attempt("failed", "not sent: the recipient has no email address")
            message = email_message(
                sender=s.email_from,
                to=d.target,
                subject=str(d.payload.get("subject", "")),
                text=str(d.payload.get("text", "")),
                message_id=email_message_id(d.event_id, d.team_id, d.user_id, s.email_from),
            )
            server = SmtpServer.from_url(s.smtp_url.get_secret_value())
            async with self.email_slots:
                return await send_email(server, message, s.delivery_timeout_seconds)
        return Attempt("failed", f"unknown channel {d.channel!r}")

    async def attempt(self, d: ClaimedDelivery, backoff: Backoff, rng: random.Random) -> Outcome:
        """Send ``d`` and decide what its row becomes."""
        try:
            result = await self.send(d)
        except Exception as exc:  # a bug in one delivery must not lose the batch's outcomes
            result = Attempt("retry", f"{type(exc).__name__}: {exc}")
        error = scrub(result.error, self.secrets) if result.error else None
        if result.verdict == "delivered":
            return Outcome(d.id, d.attempts, "delivered")
        max_attempts = self.runtime.settings.delivery_max_attempts
        if result.verdict == "retry" and d.attempts < max_attempts:
            delay = backoff.delay(d.attempts, rng)
            if result.retry_after_seconds is not None:
                delay = max(delay, min(result.retry_after_seconds, backoff.cap_seconds))
            log.warning(
                "delivery %s (%s, attempt %d) will be retried in %.1fs: %s",
                d.id,
                d.channel,
                d.attempts,
                delay,
                error,
            )
            return Outcome(d.id, d.attempts, "pending", error, delay)
        if result.verdict == "retry":
            error = f"gave up after {d.attempts} attempts: {error}"
        log.error("delivery %s (%s) failed: %s", d.id, d.channel, error)
        return Outcome(d.id, d.attempts, "failed", error)


# A delivery's row status as results and metrics name it (a pending row is retried).
REPORTED_STATUS = {"delivered": "delivered", "pending": "retrying", "failed": "failed"}


def claim_seconds(runtime: Runtime) -> float:
    """How long a claim holds a row: every send of a batch is bounded by the timeout."""
    return 2 * runtime.settings.delivery_timeout_seconds + 5


async def send_deliveries(
    runtime: Runtime,
    payload: EmptyPayload,
    *,
    backoff: Backoff | None = None,
    linger_seconds: float = LINGER_SECONDS,
    batch_size: int = BATCH_SIZE,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """Send every due delivery, and those falling due within ``linger_seconds``."""
    backoff = backoff or Backoff()
    rng = rng or random.Random()
    tally: Counter[str] = Counter()
    timeout = httpx.Timeout(runtime.settings.delivery_timeout_seconds)
    limits = httpx.Limits(
        max_connections=HTTP_CONCURRENCY, max_keepalive_connections=HTTP_CONCURRENCY
    )
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        sender = Sender(runtime, client)
        while True:
            async with runtime.sessions() as session, session.begin():
                claimed = await claim_due_deliveries(
                    session, limit=batch_size, claim_seconds=claim_seconds(runtime)
                )
            if not claimed:
                async with runtime.sessions() as session:
                    wait = await seconds_until_next_due(session)
                if wait is None or wait > linger_seconds:
                    break
                await asyncio.sleep(max(wait, 0.02))
                continue
            outcomes = await asyncio.gather(*(sender.attempt(d, backoff, rng) for d in claimed))
            async with runtime.sessions() as session, session.begin():
                await record_outcomes(session, outcomes)
            tally.update(o.status for o in outcomes)
            for d, o in zip(claimed, outcomes, strict=True):
                runtime.observer.delivery_done(d.channel, REPORTED_STATUS[o.status])
    if tally:
        log.info(
            "deliveries: %d delivered, %d to retry, %d failed",
            tally["delivered"],
            tally["pending"],
            tally["failed"],
        )
    return {
        "delivered": tally["delivered"],
        "retrying": tally["pending"],
        "failed": tally["failed"],
    }


async def publish_deliveries(runtime: Runtime, event_id: uuid.UUID) -> None:
    """Queue a sender after a fan-out that wrote deliveries has committed (the cron
    sender picks them up anyway should this enqueue be lost)."""
    await runtime.enqueue(JOB, {}, f"event-{event_id}")


JOBS = (JobSpec(JOB, EmptyPayload, send_deliveries),)
CRONS = (CronSpec(JOB, lambda settings: {"second": 30}),)
