"""SQL of the notification fan-out, the outbox sweeper and the operators' listing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId, id_text, parse_host_id
from db.models import LifecycleEvent
from db.platform.host import Platform
from db.queries.keys import team_key_type, user_key_type
from db.queries.recipients import Recipient


async def get_event(session: AsyncSession, event_id: uuid.UUID) -> LifecycleEvent | None:
    """The outbox event ``event_id`` (no lock)."""
    return await session.get(LifecycleEvent, event_id)


async def lock_event(session: AsyncSession, event_id: uuid.UUID) -> tuple[bool, bool]:
    """Row-lock the event until the transaction ends: ``(exists, already fanned out)``.

    Every fan-out transaction of one event takes this lock first, so two workers running
    the same event write its notifications one after the other, never interleaved.
    """
    row = (
        await session.execute(
            text("SELECT fanned_out_at FROM lifecycle_events WHERE id = :id FOR UPDATE"),
            {"id": event_id},
        )
    ).first()
    if row is None:
        return False, False
    return True, row.fanned_out_at is not None


@dataclass(frozen=True)
class TeamMessage:
    """The rendered notification of one team; each permitted member gets a copy."""

    team_id: HostId
    title: str
    body: str
    data: dict[str, Any]


def _insert_chunk(team_key: str, user_key: str) -> TextClause:
    # The recipient's address rides in ``data`` (hosts keep users in tables of their own).
    return text(
        f"""
    INSERT INTO notifications (event_id, team_id, user_id, slug, level, title, body, data)
    SELECT :event_id, c.team_id, r.user_id, :slug, :level, c.title, c.body,
           c.data || jsonb_build_object('email', r.email)
    FROM unnest(
        CAST(:team_ids AS {team_key}[]),
        CAST(:titles AS text[]),
        CAST(:bodies AS text[]),
        CAST(:datas AS jsonb[])
    ) AS c(team_id, title, body, data)
    JOIN unnest(
        CAST(:recipient_teams AS {team_key}[]),
        CAST(:recipient_users AS {user_key}[]),
        CAST(:recipient_emails AS text[])
    ) AS r(team_id, user_id, email) ON r.team_id = c.team_id
    ON CONFLICT (event_id, team_id, user_id) DO NOTHING
    """
    )


async def insert_team_notifications(
    session: AsyncSession,
    platform: Platform,
    *,
    event_id: uuid.UUID,
    slug: str,
    level: str,
    messages: Sequence[TeamMessage],
    recipients: Sequence[Recipient],
) -> int:
    """One statement: a notification per (team in ``messages``, its ``recipients``).

    Rows that already exist are left alone. Returns the number of rows inserted.
    """
    if not messages or not recipients:
        return 0
    result = await session.execute(
        _insert_chunk(await team_key_type(session, platform), await user_key_type(session)),
        {
            "event_id": event_id,
            "slug": slug,
            "level": level,
            "team_ids": [m.team_id for m in messages],
            "titles": [m.title for m in messages],
            "bodies": [m.body for m in messages],
            "datas": [json.dumps(m.data, separators=(",", ":")) for m in messages],
            "recipient_teams": [r.team_id for r in recipients],
            "recipient_users": [r.user_id for r in recipients],
            "recipient_emails": [r.email for r in recipients],
        },
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def mark_fanned_out(session: AsyncSession, event_id: uuid.UUID) -> None:
    """Record that every notification of the event is written."""
    await session.execute(
        text(
            "UPDATE lifecycle_events SET fanned_out_at = now() "
            "WHERE id = :id AND fanned_out_at IS NULL"
        ),
        {"id": event_id},
    )


@dataclass(frozen=True)
class PendingEvent:
    """An outbox event not yet fanned out, with its age."""

    event_id: uuid.UUID
    age_seconds: float


async def pending_events(
    session: AsyncSession, *, min_age_seconds: float, limit: int
) -> list[PendingEvent]:
    """Oldest first, events written at least ``min_age_seconds`` ago and never fanned out."""
    rows = await session.execute(
        text(
            "SELECT id, EXTRACT(EPOCH FROM now() - created_at) AS age "
            "FROM lifecycle_events "
            "WHERE fanned_out_at IS NULL "
            "AND created_at <= now() - make_interval(secs => :min_age) "
            "ORDER BY created_at LIMIT :limit"
        ),
        {"min_age": float(min_age_seconds), "limit": limit},
    )
    return [PendingEvent(event_id=r.id, age_seconds=float(r.age)) for r in rows]


_TAKE_PENDING = text(
    """
    WITH taken AS (
        SELECT id
        FROM lifecycle_events
        WHERE fanned_out_at IS NULL
          AND created_at <= now() - make_interval(secs => :min_age)
        ORDER BY swept_at NULLS FIRST, created_at, id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE lifecycle_events e
    SET swept_at = now()
    FROM taken
    WHERE e.id = taken.id
    RETURNING e.id, EXTRACT(EPOCH FROM now() - e.created_at) AS age
    """
)


async def take_pending_events(
    session: AsyncSession, *, min_age_seconds: float, limit: int
) -> list[PendingEvent]:
    """Events written at least ``min_age_seconds`` ago and never fanned out, marked swept.

    Never-swept events come first, then the least recently swept: however many events
    keep failing, each sweep reaches ``limit`` others and every event gets its turn.
    """
    rows = await session.execute(_TAKE_PENDING, {"min_age": float(min_age_seconds), "limit": limit})
    found = [PendingEvent(event_id=r.id, age_seconds=float(r.age)) for r in rows]
    return sorted(found, key=lambda p: -p.age_seconds)


async def team_names(
    session: AsyncSession, platform: Platform, team_ids: Sequence[HostId]
) -> dict[HostId, tuple[str | None, str]]:
    """``{team_id: (slug, name)}`` of the teams that exist (slug ``None`` if unmapped)."""
    if not team_ids:
        return {}
    rows = await session.execute(
        text(f"SELECT t.id, t.slug, t.name FROM ({platform.teams_sql()}) t WHERE t.id = ANY(:ids)"),
        {"ids": list(team_ids)},
    )
    return {team_id: (slug, name) for team_id, slug, name in rows}


async def team_slugs(
    session: AsyncSession, platform: Platform, team_ids: Sequence[str]
) -> dict[str, str]:
    """``{team id (text): slug}`` of the teams ``team_ids`` (ids as text) that exist and
    have a slug."""
    names = await team_names(session, platform, [parse_host_id(t) for t in team_ids])
    return {id_text(team): slug for team, (slug, _) in names.items() if slug}


async def find_team_id(session: AsyncSession, platform: Platform, slug: str) -> HostId | None:
    """The id of the team with ``slug``."""
    found: HostId | None = await session.scalar(
        text(f"SELECT t.id FROM ({platform.teams_sql()}) t WHERE t.slug = :slug"), {"slug": slug}
    )
    return found


@dataclass(frozen=True)
class NotificationRow:
    """One notification as operators see it."""

    id: uuid.UUID
    created_at: datetime
    team_id: HostId
    team_slug: str | None
    user_id: HostId
    user_email: str | None
    slug: str
    level: str
    title: str
    body: str
    data: dict[str, Any]
    read_at: datetime | None
    event_id: uuid.UUID
    model_provider: str
    model_name: str


async def recent_notifications(
    session: AsyncSession,
    platform: Platform,
    *,
    team_id: HostId | None = None,
    model_id: HostId | None = None,
    provider: str | None = None,
    name: str | None = None,
    limit: int = 50,
) -> list[NotificationRow]:
    """Newest first. A model matches on the event's model id, the id recorded in the
    notification's data, or (``provider:name``, the global model) the event's
    provider/name snapshot of a model with no team (so hard-deleted models still match,
    and a team's custom model of that name does not)."""
    where = ["TRUE"]
    params: dict[str, Any] = {"limit": limit}
    if team_id is not None:
        where.append("n.team_id = :team_id")
        params["team_id"] = team_id
    if model_id is not None:
        where.append("(e.model_id = :model_id OR n.data #>> '{model,id}' = :model_id_text)")
        params["model_id"] = model_id
        params["model_id_text"] = str(model_id)
    if provider is not None and name is not None:
        where.append(
            "e.model_provider = :provider AND e.model_name = :name "
            "AND COALESCE(n.data #>> '{model,team_id}', '') = ''"
        )
        params["provider"] = provider
        params["name"] = name
    rows = await session.execute(
        text(
            "SELECT n.id, n.created_at, n.team_id, t.slug AS team_slug, n.user_id, "
            "n.data ->> 'email' AS user_email, n.slug, n.level, n.title, n.body, n.data, "
            "n.read_at, n.event_id, e.model_provider, e.model_name "
            "FROM notifications n "
            "JOIN lifecycle_events e ON e.id = n.event_id "
            f"LEFT JOIN ({platform.teams_sql()}) t ON t.id = n.team_id "
            f"WHERE {' AND '.join(where)} "
            "ORDER BY n.created_at DESC, n.id LIMIT :limit"
        ),
        params,
    )
    return [NotificationRow(**r._mapping) for r in rows]
