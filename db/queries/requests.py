"""SQL of migration and deletion requests: their rows, their batch counts, stuck ones.

The re-pointing itself (batches, scope, final sweep) is in :mod:`db.queries.repointing`.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId, id_text, parse_host_id
from db.models import ModelMigration, ModelMigrationBatch, ModelMigrationProgress
from db.models.lifecycle import ACTIVE_MIGRATION_STATUSES

ACTIVE_SOURCE_INDEX = "uq_model_migrations_active_source"
REQUEST_KEY_CONSTRAINT = "uq_model_migrations_request_key"
SOURCE_FK = "fk_model_migrations_from_model_id_llm_models"
TARGET_FK = "fk_model_migrations_to_model_id_llm_models"

# Batch rows summed per read when totalling a request's counts.
COUNT_PAGE = 8


async def plan_progress(
    session: AsyncSession, migration_id: uuid.UUID, planned: dict[str, int]
) -> None:
    """One progress row per reference the admission planned, nothing done yet."""
    if planned:
        await session.execute(
            insert(ModelMigrationProgress),
            [
                {"migration_id": migration_id, "label": label, "planned": rows}
                for label, rows in planned.items()
            ],
        )


async def record_batch_progress(
    session: AsyncSession,
    migration_id: uuid.UUID,
    label: str,
    rows: int,
    cursor: HostId | None,
) -> None:
    """Add ``rows`` to the reference's rows done, count the batch, keep the keyset cursor.

    Run in the batch's transaction: the rows it moved, its counts and its cursor commit
    together. A batch that selected nothing new (``cursor`` None) keeps the last cursor.
    """
    await session.execute(
        text(
            """
INSERT INTO model_migration_progress AS p (migration_id, label, done, cursor, batches)
VALUES (:id, :label, :rows, :cursor, 1)
ON CONFLICT (migration_id, label) DO UPDATE
SET done = p.done + excluded.done,
    batches = p.batches + 1,
    cursor = COALESCE(excluded.cursor, p.cursor)"""
        ),
        {
            "id": migration_id,
            "label": label,
            "rows": rows,
            "cursor": None if cursor is None else id_text(cursor),
        },
    )


@dataclass(frozen=True)
class LabelProgress:
    """How far a request has come on one reference (a ``model_migration_progress`` row)."""

    planned: int | None
    done: int
    cursor: HostId | None
    batches: int


async def progress_by_label(
    session: AsyncSession, migration_id: uuid.UUID
) -> dict[str, LabelProgress]:
    """The request's progress per reference label."""
    p = ModelMigrationProgress
    rows = await session.execute(
        select(p.label, p.planned, p.done, p.cursor, p.batches).where(
            p.migration_id == migration_id
        )
    )
    return {
        label: LabelProgress(
            planned, done, None if cursor is None else parse_host_id(cursor), batches
        )
        for label, planned, done, cursor, batches in rows
    }


async def done_by_label(session: AsyncSession, migration_id: uuid.UUID) -> dict[str, int]:
    """Rows changed so far per reference, as the request's committed batches recorded."""
    return {
        label: p.done
        for label, p in (await progress_by_label(session, migration_id)).items()
        if p.batches or p.done
    }


async def counts_by_label_and_team(
    session: AsyncSession, migration_id: uuid.UUID
) -> list[tuple[str, HostId | None, int]]:
    """Rows changed so far, per (label, team), summed over the request's batches.

    The per-batch maps are summed here rather than with ``jsonb_each`` in SQL: a few
    hundred rows of maps add up faster than a GROUP BY over every (batch, team) pair.
    """
    # Read a few batch rows at a time (a driver-side stream would prefetch dozens of
    # maps): memory holds one total per (label, team), never every batch's map.
    totals: Counter[tuple[str, str]] = Counter()
    after: uuid.UUID | None = None
    while True:
        query = select(
            ModelMigrationBatch.id, ModelMigrationBatch.label, ModelMigrationBatch.teams
        ).where(ModelMigrationBatch.migration_id == migration_id)
        if after is not None:
            query = query.where(ModelMigrationBatch.id > after)
        page = (
            await session.execute(query.order_by(ModelMigrationBatch.id).limit(COUNT_PAGE))
        ).all()
        for _, label, teams in page:
            for team, n in teams.items():
                totals[(label, team)] += int(n)
        if len(page) < COUNT_PAGE:
            break
        after = page[-1].id
    return [
        (label, parse_host_id(team) if team else None, n)
        for (label, team), n in sorted(totals.items())
    ]


async def get_request(
    session: AsyncSession,
    *,
    request_id: uuid.UUID | None = None,
    request_key: str | None = None,
    for_update: bool = False,
) -> ModelMigration | None:
    """A request row by id or key."""
    stmt = select(ModelMigration)
    if request_id is not None:
        stmt = stmt.where(ModelMigration.id == request_id)
    else:
        stmt = stmt.where(ModelMigration.request_key == request_key)
    if for_update:
        stmt = stmt.with_for_update()
    row: ModelMigration | None = (await session.execute(stmt)).scalar_one_or_none()
    return row


async def lock_request_status(session: AsyncSession, request_id: uuid.UUID) -> str | None:
    """Lock the request row until the transaction ends; its status (``None``: no row).

    A batch holds this lock while it moves rows, so an operator's pause or cancel (an
    update of the same row) takes effect only once the batch in flight has committed.
    """
    status: str | None = await session.scalar(
        select(ModelMigration.status).where(ModelMigration.id == request_id).with_for_update()
    )
    return status


async def active_request_for(session: AsyncSession, source: HostId) -> ModelMigration | None:
    """The active (pending, running or paused) request for ``source``, if any."""
    stmt = select(ModelMigration).where(
        ModelMigration.from_model_id == source,
        ModelMigration.status.in_(ACTIVE_MIGRATION_STATUSES),
    )
    row: ModelMigration | None = (await session.execute(stmt)).scalar_one_or_none()
    return row


async def insert_request(session: AsyncSession, **values: Any) -> uuid.UUID:
    """Insert a request row; raises ``IntegrityError`` on a duplicate key or active source."""
    request_id: uuid.UUID | None = await session.scalar(
        insert(ModelMigration).values(**values).returning(ModelMigration.id)
    )
    assert request_id is not None
    return request_id


async def update_request(session: AsyncSession, request_id: uuid.UUID, **values: Any) -> None:
    """Update a request row's columns."""
    await session.execute(
        update(ModelMigration).where(ModelMigration.id == request_id).values(**values)
    )


async def requests_for_model(
    session: AsyncSession, model_id: HostId | None, provider: str | None, name: str | None
) -> list[ModelMigration]:
    """History of requests naming a model, by id or by its name snapshot (newest first)."""
    stmt = select(ModelMigration).order_by(ModelMigration.created_at.desc())
    if model_id is not None:
        stmt = stmt.where(
            (ModelMigration.from_model_id == model_id) | (ModelMigration.to_model_id == model_id)
        )
    elif provider is not None:
        stmt = stmt.where(
            ((ModelMigration.from_provider == provider) & (ModelMigration.from_model_name == name))
            | ((ModelMigration.to_provider == provider) & (ModelMigration.to_model_name == name))
        )
    return list((await session.execute(stmt.limit(200))).scalars())


@dataclass(frozen=True)
class RunRows:
    """What a request's latest run (since ``run_started_at``) has moved, and when."""

    rows: int
    last_batch_at: datetime | None
    now: datetime


@dataclass(frozen=True)
class RequestTotals:
    """A request's rows done and planned, summed over its references (``planned`` is
    ``None`` when it has no progress rows: a rejected request, or one with nothing to do)."""

    done: int
    planned: int | None


async def recent_requests(
    session: AsyncSession, *, active: bool, limit: int
) -> list[tuple[ModelMigration, RunRows, RequestTotals]]:
    """Requests newest first (``active``: only pending, running and paused ones), each
    with the rows its latest run's batches moved and its rows done and planned."""
    batch = ModelMigrationBatch
    in_run = (batch.migration_id == ModelMigration.id) & (
        batch.created_at >= ModelMigration.run_started_at
    )
    run_rows = select(func.coalesce(func.sum(batch.rows), 0)).where(in_run).scalar_subquery()
    last_batch = select(func.max(batch.created_at)).where(in_run).scalar_subquery()
    progress = ModelMigrationProgress
    of_request = progress.migration_id == ModelMigration.id
    done = select(func.coalesce(func.sum(progress.done), 0)).where(of_request).scalar_subquery()
    planned = select(func.sum(progress.planned)).where(of_request).scalar_subquery()
    stmt = select(ModelMigration, run_rows, last_batch, func.now(), done, planned).order_by(
        ModelMigration.created_at.desc(), ModelMigration.id
    )
    if active:
        stmt = stmt.where(ModelMigration.status.in_(ACTIVE_MIGRATION_STATUSES))
    found = await session.execute(stmt.limit(limit))
    return [
        (
            row,
            RunRows(int(rows), last, now),
            RequestTotals(int(done), None if planned is None else int(planned)),
        )
        for row, rows, last, now, done, planned in found
    ]


async def totals_of(session: AsyncSession, request_key: str) -> RequestTotals | None:
    """The rows done and planned of the request under ``request_key`` (``None``: no such
    request is recorded yet)."""
    progress = ModelMigrationProgress
    found = (
        await session.execute(
            select(
                ModelMigration.id,
                func.coalesce(func.sum(progress.done), 0),
                func.sum(progress.planned),
            )
            .outerjoin(progress, progress.migration_id == ModelMigration.id)
            .where(ModelMigration.request_key == request_key)
            .group_by(ModelMigration.id)
        )
    ).first()
    if found is None:
        return None
    _, done, planned = found
    return RequestTotals(int(done), None if planned is None else int(planned))


# Requests left pending/running with no sign of life (start, resume or batch) for longer than
# ``$1`` seconds: no try can still be working on them. Plain SQL for a bare asyncpg
# connection (the health check); newest first.
STUCK_REQUESTS_SQL = """
SELECT m.request_key, m.status
FROM model_migrations m
WHERE m.status IN ('pending', 'running')
  AND GREATEST(m.created_at, m.started_at, m.run_started_at,
               (SELECT max(b.created_at) FROM model_migration_batches b
                WHERE b.migration_id = m.id)) < now() - make_interval(secs => $1)
ORDER BY m.created_at DESC
"""
