"""SQL of the weekly cleanup: retired models, what still holds them, and the hard delete.

Eligibility is decided with index-backed ``EXISTS`` probes built from the reference
platform's references, one model at a time, so the cost of a run does not grow with history tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId
from db.queries.reference_sql import (
    all_of,
    id_params,
    json_rewrite_sql,
    live_row_sql,
    match_sql,
    new_column_value_sql,
    new_json_value_sql,
    not_live_sql,
)
from db.queries.references import Executor
from db.reference import Reference, Role, Shape, check_identifiers

CLEANUP_JOB = "cleanup_retired_models"

_RETIRED = "(m.deleted_at IS NOT NULL OR m.migrated_to_model_id IS NOT NULL)"


@dataclass(frozen=True)
class RetiredModel:
    """A model row that is soft-deleted or migrated, as the cleanup sees it."""

    id: HostId
    provider: str
    name: str
    display_name: str
    team_id: HostId | None
    migrated_to_model_id: HostId | None
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
    migrated_from: list[HostId]


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
            f"SELECT {_COLUMNS} FROM models m WHERE {_RETIRED} "
            "ORDER BY COALESCE(m.deleted_at, m.updated_at), m.created_at, m.id LIMIT :limit"
        ),
        {"limit": limit},
    )
    return [_retired(r) for r in rows]


async def count_retired_models(db: Executor) -> int:
    """How many models are soft-deleted or migrated (the model table only)."""
    n = await db.scalar(text(f"SELECT count(*) FROM models m WHERE {_RETIRED}"))
    return int(n or 0)


async def retired_models_exist(db: Executor) -> bool:
    """Whether any model is waiting for the cleanup."""
    return bool(await db.scalar(text(f"SELECT EXISTS (SELECT 1 FROM models m WHERE {_RETIRED})")))


async def set_lock_timeout(db: Executor, milliseconds: int) -> None:
    """Give up waiting for a row lock after ``milliseconds`` (this connection, once committed)."""
    await db.execute(
        text("SELECT set_config('lock_timeout', :value, false)"), {"value": f"{milliseconds}ms"}
    )


async def reset_lock_timeout(db: Executor) -> None:
    """Back to the server's lock timeout (before the connection returns to the pool)."""
    await db.execute(text("RESET lock_timeout"))


async def lock_retired_model(session: AsyncSession, model_id: HostId) -> RetiredModel | None:
    """Row-lock the model (``FOR UPDATE``); ``None`` if it is gone or no longer retired.

    The lock conflicts with the key-share lock every inserted reference takes on the
    model row, so no new reference can appear until this transaction ends. The state is
    read after the lock is granted, in a statement of its own: state the worker keeps
    beside the host's row is then what the last holder of the lock committed.
    """
    locked = await session.scalar(
        text("SELECT m.id FROM models m WHERE m.id = :id FOR UPDATE"), {"id": model_id}
    )
    if locked is None:
        return None
    row = (
        await session.execute(
            text(f"SELECT {_COLUMNS} FROM models m WHERE m.id = :id"), {"id": model_id}
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
        where = match_sql(ref, "t", f"{prefix}{i}_id")
        if live_only:
            where = all_of(where, live_row_sql(ref))
        params[f"{prefix}{i}"] = ref.label
        parts.append(
            f"CASE WHEN EXISTS (SELECT 1 FROM {ref.table} t WHERE {where}) "
            f"THEN CAST(:{prefix}{i} AS text) END"
        )
    listed = ",\n    ".join(parts)
    return f"array_remove(ARRAY[\n    {listed}], NULL)", params


def _probe_params(refs: tuple[Reference, ...], prefix: str, model_id: HostId) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for i, ref in enumerate(refs):
        params.update(id_params(ref, f"{prefix}{i}_id", model_id))
    return params


def holders_statement(references: tuple[Reference, ...]) -> TextClause:
    """Every label holding ``:model_id`` and the models migrated to it, in one statement."""
    history, live = _by_role(references)
    history_sql, _ = _label_probes(history, "h", live_only=False)
    live_sql, _ = _label_probes(live, "l", live_only=True)
    return text(
        f"SELECT {history_sql} AS history,\n{live_sql} AS live,\n"
        "ARRAY(SELECT o.id FROM models o WHERE o.migrated_to_model_id = :model_id "
        "ORDER BY o.id) AS migrated_from"
    )


def _by_role(references: tuple[Reference, ...]) -> tuple[tuple[Reference, ...], ...]:
    history = tuple(r for r in references if r.role is Role.HISTORY)
    return history, tuple(r for r in references if r.role is Role.LIVE)


async def find_holders(
    db: Executor, model_id: HostId, references: tuple[Reference, ...]
) -> Holders:
    """Everything that keeps ``model_id`` alive, in one round trip of ``EXISTS`` probes.

    History rows count whatever their state; live rows count unless not live
    (soft-deleted or archived); and every model whose ``migrated_to_model_id`` points at
    it is listed.
    """
    check_identifiers(references)
    history, live = _by_role(references)
    _, history_params = _label_probes(history, "h", live_only=False)
    _, live_params = _label_probes(live, "l", live_only=True)
    params = {
        "model_id": model_id,
        **history_params,
        **live_params,
        **_probe_params(history, "h", model_id),
        **_probe_params(live, "l", model_id),
    }
    row = (await db.execute(holders_statement(references), params)).one()
    return Holders(
        history=list(row.history), live=list(row.live), migrated_from=list(row.migrated_from)
    )


# Requests that can still be undone: journaled, finished (not undone) within the window.
_UNDOABLE_REQUESTS = text(
    """
SELECT request_key FROM model_migrations
WHERE from_model_id = :model_id AND journaled
  AND status IN ('succeeded', 'failed', 'cancelled')
  AND finished_at > now() - make_interval(days => :days)
ORDER BY finished_at DESC
LIMIT 20"""
)


async def undoable_requests(db: Executor, model_id: HostId, days: int) -> list[str]:
    """Keys of the requests from ``model_id`` that can still be undone (finished less
    than ``days`` ago, with a journal); none when ``days`` is 0 (no undo window)."""
    if days <= 0:
        return []
    found = await db.execute(_UNDOABLE_REQUESTS, {"model_id": model_id, "days": days})
    return [row.request_key for row in found]


def not_live_references(references: tuple[Reference, ...]) -> tuple[Reference, ...]:
    """Live references whose rows marked not live (soft-deleted, archived) do not keep a
    model alive: the cleanup repoints or clears them first."""
    return tuple(r for r in references if r.role is Role.LIVE and r.not_live)


def _not_live_rows(ref: Reference, *, clear: bool) -> str:
    """The not-live rows of ``ref`` on ``:model_id`` that the cleanup re-points at
    ``:target`` (or clears): a link row whose parent already links the target is left."""
    where = f"{match_sql(ref)} AND {not_live_sql(ref)}"
    if ref.shape is Shape.LINK and not clear:
        where += (
            f" AND NOT EXISTS (SELECT 1 FROM {ref.table} o "
            f"WHERE o.{ref.key_column} = t.{ref.key_column} AND o.{ref.column} = :target)"
        )
    return where


def count_not_live_statement(ref: Reference, *, clear: bool) -> TextClause:
    """How many rows ``repoint_not_live_statement`` would change (for a dry run)."""
    return text(f"SELECT count(*) FROM {ref.table} t WHERE {_not_live_rows(ref, clear=clear)}")


def repoint_not_live_statement(ref: Reference, *, clear: bool) -> TextClause:
    """Point the not-live rows of ``ref`` on ``:model_id`` at ``:target`` (or clear them).

    A link row whose parent already links the target is left (the delete then fails on
    the foreign key and is reported); a cleared link row is deleted.
    """
    where = _not_live_rows(ref, clear=clear)
    if ref.shape is Shape.LINK:
        if clear:
            return text(f"DELETE FROM {ref.table} t WHERE {where}")
        return text(f"UPDATE {ref.table} t SET {ref.column} = :target WHERE {where}")
    if ref.json is not None:
        value = new_json_value_sql(ref.json, clear=clear)
        rewrite = json_rewrite_sql(ref.json, source="model_id", new_value=value)
        return text(f"UPDATE {ref.table} t SET {ref.column} = {rewrite} WHERE {where}")
    assignment = new_column_value_sql(ref, clear=clear, source="model_id")
    return text(f"UPDATE {ref.table} t SET {assignment} WHERE {where}")


async def repoint_not_live(
    db: Executor,
    model_id: HostId,
    target: HostId | None,
    references: tuple[Reference, ...],
    *,
    dry_run: bool = False,
) -> dict[str, int]:
    """Point not-live rows (soft-deleted, archived) at ``target``, or clear them where
    allowed; rows changed per label. A dry run counts the same rows and changes none."""
    refs = not_live_references(references)
    check_identifiers(refs)
    moved: dict[str, int] = {}
    for ref in refs:
        if target is None and not ref.clearable:
            continue  # the delete then fails on the foreign key and is reported
        params = {**id_params(ref, "model_id", model_id), **id_params(ref, "target", target)}
        if dry_run:
            count = await db.scalar(count_not_live_statement(ref, clear=target is None), params)
            changed = int(count or 0)
        else:
            result = await db.execute(repoint_not_live_statement(ref, clear=target is None), params)
            changed = int(getattr(result, "rowcount", 0) or 0)
        if changed:
            moved[ref.label] = changed
    return moved


async def delete_model_row(session: AsyncSession, model_id: HostId) -> None:
    """Hard-delete the model row (history snapshots keep its name; their FKs become null).

    Deferred foreign keys (Django creates every one ``DEFERRABLE INITIALLY DEFERRED``)
    are checked at this statement instead of at COMMIT, so a row the mapping does not
    know that still holds the model fails the delete here, where the caller can roll it
    back and skip the model, rather than failing the whole transaction at its end.
    """
    await session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    await session.execute(text("DELETE FROM models WHERE id = :id"), {"id": model_id})


async def last_cleanup_finished_at(db: Executor) -> datetime | None:
    """When the last successful cleanup run that counts as the week's finished: a real
    run, or a scheduled run in report mode (an operator's dry run does not count)."""
    value: datetime | None = await db.scalar(
        text(
            "SELECT max(finished_at) FROM lifecycle_runs "
            "WHERE job = :job AND status = 'succeeded' "
            "AND (NOT dry_run OR summary ->> 'mode' = 'report')"
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
