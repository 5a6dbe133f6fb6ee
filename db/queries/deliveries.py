"""SQL of the delivery outbox: writing deliveries with the notifications, claiming due
ones fairly, recording outcomes, and the operators' list of failures."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId
from db.platform.host import Platform
from db.queries.keys import team_key_type, user_key_type
from db.queries.recipients import Recipient


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _insert_team_deliveries(team_key: str) -> TextClause:
    return text(
        f"""
    INSERT INTO deliveries (event_id, channel, team_id, target, payload)
    SELECT :event_id, :channel, c.team_id, :target, c.payload
    FROM unnest(CAST(:team_ids AS {team_key}[]), CAST(:payloads AS jsonb[])) AS c(team_id, payload)
    ON CONFLICT DO NOTHING
    """
    )


async def insert_team_deliveries(
    session: AsyncSession,
    platform: Platform,
    *,
    event_id: uuid.UUID,
    channel: str,
    target: str,
    payloads: dict[HostId | None, dict[str, Any]],
) -> int:
    """One delivery per key of ``payloads`` (a team, or ``None`` for an event-wide
    message); those that exist are left alone. Returns the number inserted."""
    if not payloads:
        return 0
    result = await session.execute(
        _insert_team_deliveries(await team_key_type(session, platform)),
        {
            "event_id": event_id,
            "channel": channel,
            "target": target,
            "team_ids": list(payloads),
            "payloads": [_json(p) for p in payloads.values()],
        },
    )
    return _rowcount(result)


def _insert_emails(team_key: str, user_key: str) -> TextClause:
    # A recipient without a usable address gets a row that failed at once, naming why:
    # ``notifications --failed`` shows who was not emailed.
    return text(
        f"""
    INSERT INTO deliveries (event_id, channel, team_id, user_id, target, payload, status,
                            last_error)
    SELECT :event_id, 'email', c.team_id, r.user_id, COALESCE(r.email, ''),
           jsonb_build_object('subject', c.subject, 'text', c.body),
           CASE WHEN r.email IS NULL THEN 'failed' ELSE 'pending' END, r.problem
    FROM unnest(
        CAST(:team_ids AS {team_key}[]), CAST(:subjects AS text[]), CAST(:bodies AS text[])
    ) AS c(team_id, subject, body)
    JOIN unnest(
        CAST(:recipient_teams AS {team_key}[]),
        CAST(:recipient_users AS {user_key}[]),
        CAST(:recipient_emails AS text[]),
        CAST(:recipient_problems AS text[])
    ) AS r(team_id, user_id, email, problem) ON r.team_id = c.team_id
    ON CONFLICT DO NOTHING
    """
    )


async def insert_email_deliveries(
    session: AsyncSession,
    platform: Platform,
    *,
    event_id: uuid.UUID,
    messages: Sequence[tuple[HostId, str, str]],
    recipients: Sequence[Recipient],
) -> int:
    """An email per (team, recipient) for ``(team_id, subject, body)`` messages; one
    that failed at once for a recipient without an address."""
    if not messages or not recipients:
        return 0
    result = await session.execute(
        _insert_emails(await team_key_type(session, platform), await user_key_type(session)),
        {
            "event_id": event_id,
            "team_ids": [m[0] for m in messages],
            "subjects": [m[1] for m in messages],
            "bodies": [m[2] for m in messages],
            "recipient_teams": [r.team_id for r in recipients],
            "recipient_users": [r.user_id for r in recipients],
            "recipient_emails": [r.email for r in recipients],
            "recipient_problems": [
                None if r.no_email is None else f"not sent: {r.no_email}" for r in recipients
            ],
        },
    )
    return _rowcount(result)


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery this sender now holds until its claim runs out."""

    id: uuid.UUID
    event_id: uuid.UUID
    channel: str
    team_id: HostId | None
    user_id: HostId | None
    target: str
    payload: dict[str, Any]
    attempts: int


# Fair order: the earliest due first. A failing row is due again only after its backoff,
# so rows that keep failing queue behind every row that fell due before them, never in
# front of newer ones. SKIP LOCKED lets several senders claim side by side.
_CLAIM = text(
    """
    WITH due AS (
        SELECT id
        FROM deliveries
        WHERE status = 'pending' AND next_attempt_at <= now()
        ORDER BY next_attempt_at, id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE deliveries d
    SET attempts = d.attempts + 1,
        next_attempt_at = now() + make_interval(secs => :claim_seconds)
    FROM due
    WHERE d.id = due.id
    RETURNING d.id, d.event_id, d.channel, d.team_id, d.user_id, d.target, d.payload,
              d.attempts
    """
)


async def claim_due_deliveries(
    session: AsyncSession, *, limit: int, claim_seconds: float
) -> list[ClaimedDelivery]:
    """Take up to ``limit`` due deliveries, counting the attempt and pushing their next
    attempt ``claim_seconds`` ahead: should this sender die, they fall due again then."""
    rows = await session.execute(_CLAIM, {"limit": limit, "claim_seconds": float(claim_seconds)})
    claimed = [ClaimedDelivery(**r._mapping) for r in rows]
    return sorted(claimed, key=lambda c: (c.event_id, c.id))


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: ``delivered``, ``pending`` (retry after ``delay``) or
    ``failed`` (for good)."""

    id: uuid.UUID
    attempts: int
    status: str
    error: str | None = None
    delay_seconds: float = 0.0


# A late sender (its claim ran out and another took the row) may only record a delivery;
# a retry or failure counts only from the attempt that holds the row now. A delivered
# row is never touched again.
_RECORD = text(
    """
    UPDATE deliveries d
    SET status = v.status,
        last_error = COALESCE(v.error, d.last_error),
        delivered_at = CASE WHEN v.status = 'delivered' THEN now() END,
        next_attempt_at = CASE WHEN v.status = 'pending'
                               THEN now() + make_interval(secs => v.delay)
                               ELSE d.next_attempt_at END
    FROM unnest(
        CAST(:ids AS uuid[]),
        CAST(:attempts AS integer[]),
        CAST(:statuses AS text[]),
        CAST(:errors AS text[]),
        CAST(:delays AS float8[])
    ) AS v(id, attempts, status, error, delay)
    WHERE d.id = v.id
      AND d.status = 'pending'
      AND (v.status = 'delivered' OR d.attempts = v.attempts)
    """
)


async def record_outcomes(session: AsyncSession, outcomes: Sequence[Outcome]) -> int:
    """Store a batch of outcomes in one statement; returns the rows changed."""
    if not outcomes:
        return 0
    result = await session.execute(
        _RECORD,
        {
            "ids": [o.id for o in outcomes],
            "attempts": [o.attempts for o in outcomes],
            "statuses": [o.status for o in outcomes],
            "errors": [o.error for o in outcomes],
            "delays": [float(o.delay_seconds) for o in outcomes],
        },
    )
    return _rowcount(result)


_RELEASE = text(
    """
    UPDATE deliveries d
    SET attempts = d.attempts - 1, next_attempt_at = now()
    FROM unnest(CAST(:ids AS uuid[]), CAST(:attempts AS integer[])) AS v(id, attempts)
    WHERE d.id = v.id AND d.status = 'pending' AND d.attempts = v.attempts
    """
)


async def release_claims(session: AsyncSession, claims: Sequence[tuple[uuid.UUID, int]]) -> int:
    """Give back ``(id, attempts)`` rows claimed but never sent: due now, their claim's
    attempt not counted (only while the claim is still the caller's)."""
    if not claims:
        return 0
    result = await session.execute(
        _RELEASE, {"ids": [c[0] for c in claims], "attempts": [c[1] for c in claims]}
    )
    return _rowcount(result)


async def seconds_until_next_due(session: AsyncSession) -> float | None:
    """Seconds until the earliest pending delivery falls due (0 if one is due now)."""
    value = await session.scalar(
        text(
            "SELECT EXTRACT(EPOCH FROM min(next_attempt_at) - now()) "
            "FROM deliveries WHERE status = 'pending'"
        )
    )
    return None if value is None else max(0.0, float(value))


@dataclass(frozen=True)
class DeliveryRow:
    """A delivery as operators see it (never its payload's secrets: there are none)."""

    id: uuid.UUID
    created_at: datetime
    channel: str
    target: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None
    event_id: uuid.UUID
    slug: str
    model_provider: str
    model_name: str
    team_id: HostId | None
    team_slug: str | None


def _list_sql(platform: Platform) -> str:
    return f"""
    SELECT d.id, d.created_at, d.channel, d.target, d.status, d.attempts, d.next_attempt_at,
           d.last_error, d.delivered_at, d.event_id, e.slug, e.model_provider, e.model_name,
           d.team_id, t.slug AS team_slug
    FROM deliveries d
    JOIN lifecycle_events e ON e.id = d.event_id
    LEFT JOIN ({platform.teams_sql()}) t ON t.id = d.team_id
"""


async def list_deliveries(
    session: AsyncSession, platform: Platform, *, status: str | None = None, limit: int = 50
) -> list[DeliveryRow]:
    """Newest first; only ``status`` when given."""
    where = "WHERE d.status = :status" if status is not None else ""
    rows = await session.execute(
        text(f"{_list_sql(platform)} {where} ORDER BY d.created_at DESC, d.id LIMIT :limit"),
        {"status": status, "limit": limit},
    )
    return [DeliveryRow(**r._mapping) for r in rows]


async def retry_failed_deliveries(
    session: AsyncSession, ids: Sequence[uuid.UUID] | None = None
) -> list[uuid.UUID]:
    """Put failed deliveries (all, or those in ``ids``) back in the queue, due now, with
    a fresh count of attempts. Delivered and pending rows are left alone."""
    rows = await session.execute(
        text(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = now() "
            "WHERE status = 'failed' "
            "AND (CAST(:ids AS uuid[]) IS NULL OR id = ANY(CAST(:ids AS uuid[]))) "
            "RETURNING id"
        ),
        {"ids": None if ids is None else list(ids)},
    )
    return list(rows.scalars())
