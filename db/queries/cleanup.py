"""SQL of the weekly cleanup: retired models, what still holds them, and the hard delete.

Eligibility is decided with index-backed ``EXISTS`` probes built from the reference
registry, one model at a time, so the cost of a run does not grow with history tables.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.queries.references import Executor, live_row_sql, match_sql
from db.registry import (
    Reference,
    Shape,
    check_identifiers,
    history_references,
    live_references,
)

CLEANUP_JOB = "cleanup_retired_models"

_RETIRED = "(m.deleted_at IS NOT NULL OR m.migrated_to_model_id IS NOT NULL)"


@dataclass(frozen=True)
class RetiredModel:
    """A model row that is soft-deleted or migrated, as the cleanup sees it."""

    id: uuid.UUID
    provider: str
    name: str
    display_name: str
    team_id: uuid.UUID | None
    migrated_to_model_id: uuid.UUID | None
    deleted_at: datetime | None

    def snapshot(self) -> dict[str, Any]:
        """What the audit trail keeps of the row once it is gone."""
        return {
            "provider": self.provider,
            "name": self.name,
            "team_id": self.team_id,
            "display_name": self.display_name,
            "migrated_to_model_id": self.migrated_to_model_id,
            "deleted_at": self.deleted_at,
        }


@dataclass(frozen=True)
class Holders:
    """What keeps one model alive: referencing labels and models migrated to it."""

    history: list[str]
    live: list[str]
    migrated_from: list[uuid.UUID]


_COLUMNS = (
    "m.id, m.provider, m.name, m.display_name, m.team_id, m.migrated_to_model_id, m.deleted_at"
)


def _retired(row: Any) -> RetiredModel:
    return RetiredModel(
        id=row.id,
        provider=row.provider,
        name=row.name,
        display_name=row.display_name,
        team_id=row.team_id,
        migrated_to_model_id=row.migrated_to_model_id,
        deleted_at=row.deleted_at,
    )


async def select_retired_models(db: Executor, limit: int) -> list[RetiredModel]:
    """Soft-deleted or migrated models, oldest retirement first, at most ``limit``.

    A model's retirement time is ``deleted_at``, or ``updated_at`` for a migrated model
    (the migration is its last change).
    """
    rows = await db.execute(
        text(
            f"SELECT {_COLUMNS} FROM llm_models m WHERE {_RETIRED} "
            "ORDER BY COALESCE(m.deleted_at, m.updated_at), m.created_at, m.id LIMIT :limit"
        ),
        {"limit": limit},
    )
    return [_retired(r) for r in rows]


async def count_retired_models(db: Executor) -> int:
    """How many models are soft-deleted or migrated (the model table only)."""
    n = await db.scalar(text(f"SELECT count(*) FROM llm_models m WHERE {_RETIRED}"))
    return int(n or 0)


async def retired_models_exist(db: Executor) -> bool:
    """Whether any model is waiting for the cleanup."""
    return bool(
        await db.scalar(text(f"SELECT EXISTS (SELECT 1 FROM llm_models m WHERE {_RETIRED})"))
    )


async def set_lock_timeout(db: Executor, milliseconds: int) -> None:
    """Give up waiting for a row lock after ``milliseconds`` (this connection, once committed)."""
    await db.execute(
        text("SELECT set_config('lock_timeout', :value, false)"), {"value": f"{milliseconds}ms"}
    )


async def reset_lock_timeout(db: Executor) -> None:
    """Back to the server's lock timeout (before the connection returns to the pool)."""
    await db.execute(text("RESET lock_timeout"))


async def lock_retired_model(session: AsyncSession, model_id: uuid.UUID) -> RetiredModel | None:
    """Row-lock the model (``FOR UPDATE``); ``None`` if it is gone or no longer retired.

    The lock conflicts with the key-share lock every inserted reference takes on the
    model row, so no new reference can appear until this transaction ends.
    """
    row = (
        await session.execute(
            text(f"SELECT {_COLUMNS} FROM llm_models m WHERE m.id = :id FOR UPDATE"),
            {"id": model_id},
        )
    ).one_or_none()
    if row is None or (row.deleted_at is None and row.migrated_to_model_id is None):
        return None
    return _retired(row)


def _label_probes(
    refs: tuple[Reference, ...], prefix: str, live_only: bool
) -> tuple[str, dict[str, str]]:
    """``array_remove(ARRAY[CASE WHEN EXISTS(…) THEN label END, …], NULL)`` over ``refs``."""
    if not refs:
        return "ARRAY[]::text[]", {}
    parts, params = [], {}
    for i, ref in enumerate(refs):
        where = match_sql(ref)
        if live_only:
            where += f" AND {live_row_sql(ref)}"
        params[f"{prefix}{i}"] = ref.label
        parts.append(
            f"CASE WHEN EXISTS (SELECT 1 FROM {ref.table} t WHERE {where}) "
            f"THEN CAST(:{prefix}{i} AS text) END"
        )
    return f"array_remove(ARRAY[{', '.join(parts)}], NULL)", params


async def find_holders(db: Executor, model_id: uuid.UUID) -> Holders:
    """Everything that keeps ``model_id`` alive, in one round trip of ``EXISTS`` probes.

    History rows count whatever their state; live rows count unless soft-deleted; and
    every model whose ``migrated_to_model_id`` points at it is listed.
    """
    history, live = history_references(), live_references()
    check_identifiers(history + live)
    history_sql, history_params = _label_probes(history, "h", live_only=False)
    live_sql, live_params = _label_probes(live, "l", live_only=True)
    row = (
        await db.execute(
            text(
                f"SELECT {history_sql} AS history, {live_sql} AS live, "
                "ARRAY(SELECT o.id FROM llm_models o WHERE o.migrated_to_model_id = :model_id "
                "ORDER BY o.id) AS migrated_from"
            ),
            {"model_id": model_id, **history_params, **live_params},
        )
    ).one()
    return Holders(
        history=list(row.history), live=list(row.live), migrated_from=list(row.migrated_from)
    )


def soft_deleted_references() -> tuple[Reference, ...]:
    """Live references whose soft-deleted rows do not keep a model alive."""
    refs = tuple(r for r in live_references() if r.soft_delete_column)
    for ref in refs:
        if ref.shape is not Shape.COLUMN:
            raise ValueError(
                f"{ref.label}: the cleanup repoints soft-deleted rows of plain columns only"
            )
    return refs


async def repoint_soft_deleted(
    session: AsyncSession, model_id: uuid.UUID, target: uuid.UUID | None
) -> dict[str, int]:
    """Point soft-deleted rows at ``target`` (or clear them where allowed); rows per label."""
    refs = soft_deleted_references()
    check_identifiers(refs)
    moved: dict[str, int] = {}
    for ref in refs:
        if target is None and not ref.clearable:
            continue  # the delete then fails on the foreign key and is reported
        result = await session.execute(
            text(
                f"UPDATE {ref.table} t SET {ref.column} = :target "
                f"WHERE {match_sql(ref)} AND t.{ref.soft_delete_column} IS NOT NULL"
            ),
            {"model_id": model_id, "target": target},
        )
        rowcount = int(getattr(result, "rowcount", 0) or 0)
        if rowcount:
            moved[ref.label] = rowcount
    return moved


async def delete_model_row(session: AsyncSession, model_id: uuid.UUID) -> None:
    """Hard-delete the model row (history snapshots keep its name; their FKs become null)."""
    await session.execute(text("DELETE FROM llm_models WHERE id = :id"), {"id": model_id})


async def last_cleanup_finished_at(db: Executor) -> datetime | None:
    """When the last successful real (not dry) cleanup run finished."""
    value: datetime | None = await db.scalar(
        text(
            "SELECT max(finished_at) FROM lifecycle_runs "
            "WHERE job = :job AND status = 'succeeded' AND NOT dry_run"
        ),
        {"job": CLEANUP_JOB},
    )
    return value


async def database_now(db: Executor) -> datetime:
    """The database's clock (every stored time comes from it)."""
    value: datetime | None = await db.scalar(text("SELECT now()"))
    assert value is not None
    return value


async def close_interrupted_runs(db: Executor, job_id: str | None, stale_after_s: int) -> int:
    """Mark cleanup runs that can no longer be running as ``failed`` (interrupted).

    Those are earlier tries of ARQ job ``job_id`` (a worker died mid-run and this try
    takes over) and runs started longer ago than the job's timeout. Returns how many.
    """
    result = await db.execute(
        text(
            "UPDATE lifecycle_runs SET status = 'failed', finished_at = now(), "
            "summary = summary || jsonb_build_object('error', "
            "'interrupted: the worker stopped mid-run; a later run took over') "
            "WHERE job = :job AND status = 'running' AND (job_id = :job_id "
            "OR started_at < now() - make_interval(secs => :stale_after_s))"
        ),
        {"job": CLEANUP_JOB, "job_id": job_id, "stale_after_s": stale_after_s},
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def finished_run_summary(db: Executor, job_id: str) -> dict[str, Any] | None:
    """The report of a finished cleanup run started by ARQ job ``job_id``, if any."""
    value: dict[str, Any] | None = await db.scalar(
        text(
            "SELECT summary FROM lifecycle_runs WHERE job = :job AND job_id = :job_id "
            "AND status = 'succeeded' ORDER BY finished_at DESC LIMIT 1"
        ),
        {"job": CLEANUP_JOB, "job_id": job_id},
    )
    return value
