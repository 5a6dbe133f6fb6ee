"""SQL for migration and deletion requests: the request rows and the batched re-pointing.

Statements are built from registry entries (identifiers validated in ``db.registry``);
model ids, limits and labels are bound parameters.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import TextClause, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import LlmModel, ModelMigration, ModelMigrationBatch
from db.queries.references import (
    level_scope_sql,
    live_row_sql,
    match_sql,
    team_scope_sql,
    team_sql,
)
from db.registry import RESET_LITERALS, Reference, Shape, check_identifiers

ACTIVE_SOURCE_INDEX = "uq_model_migrations_active_source"
REQUEST_KEY_CONSTRAINT = "uq_model_migrations_request_key"
SOURCE_FK = "fk_model_migrations_from_model_id_llm_models"
TARGET_FK = "fk_model_migrations_to_model_id_llm_models"

# Keyset cursor bounds: every uuid sorts after the first and not after the last.
FIRST_KEY = uuid.UUID(int=0)
LAST_KEY = uuid.UUID(int=2**128 - 1)
# Batch rows summed per read when totalling a request's counts.
COUNT_PAGE = 8

# Records the rows a batch changed, per team, in the statement that changes them.
_COUNT_MOVED = """
per_team AS (SELECT team_id, count(*) AS n FROM moved_teams GROUP BY team_id),
counted AS (
    INSERT INTO model_migration_batches (migration_id, label, rows, teams)
    SELECT CAST(:migration_id AS uuid), CAST(:label AS text), sum(n),
           jsonb_object_agg(COALESCE(CAST(team_id AS text), ''), n)
    FROM per_team HAVING sum(n) > 0
)"""
_MOVED = "(SELECT COALESCE(sum(n), 0) FROM per_team)"
_BATCH_OUTCOME = f"""
SELECT (SELECT count(*) FROM batch) AS selected, {_MOVED} AS moved,
       (SELECT {{key}} FROM batch ORDER BY {{key}} DESC LIMIT 1) AS last_key
"""
_RANGE_OUTCOME = f"""
SELECT CASE WHEN EXISTS (SELECT 1 FROM bound) THEN :limit ELSE {_MOVED} END AS selected,
       {_MOVED} AS moved, (SELECT {{key}} FROM bound) AS last_key
"""


def _new_json_value(ref: Reference, clear: bool) -> str:
    if clear:
        return "'null'::jsonb"
    return "to_jsonb(CAST(CAST(:target AS uuid) AS text))"


@dataclass(frozen=True)
class Scope:
    """The rows a request was admitted for: those of ``team`` (set when the target is a
    team's custom model) whose parents (spaces) ask no more than ``level``."""

    team: uuid.UUID | None
    level: int

    @classmethod
    def of(cls, target: LlmModel) -> Scope:
        return cls(target.team_id, target.security_level or 0)


def _scope_sql(ref: Reference, *, team_scoped: bool) -> str:
    scope = level_scope_sql(ref, "t")
    return f"{scope} AND {team_scope_sql(ref, 't')}" if team_scoped else scope


def _scope_params(scope: Scope | None) -> dict[str, Any]:
    if scope is None:
        return {}
    params: dict[str, Any] = {"scope_level": scope.level}
    if scope.team is not None:
        params["scope_team"] = scope.team
    return params


@cache
def move_batch_statement(ref: Reference, *, clear: bool, team_scoped: bool = False) -> TextClause:
    """Move (or clear) up to ``:limit`` rows of ``ref`` from ``:source`` to ``:target``.

    Rows are taken in key order after ``:after`` (a keyset cursor, so a batch never
    re-reads the index entries that earlier batches moved). Returns (rows selected, rows
    changed, last key) and records the rows changed per team in
    ``model_migration_batches`` in the same statement. Soft-deleted rows are left alone
    (cleanup handles them). A move (not a clear) takes only rows in the request's scope
    (``:scope_level``, and ``:scope_team`` when ``team_scoped``): a row written later by
    another team, or in a space above the target's level, is never moved onto the target.
    """
    check_identifiers((ref,))
    if clear and not ref.clearable:
        raise ValueError(f"{ref.label} references cannot be cleared")
    match = match_sql(ref, "t", "source")
    live = live_row_sql(ref, "t")
    if not clear:
        live = f"{live} AND {_scope_sql(ref, team_scoped=team_scoped)}"
    team_join, team = team_sql(ref, "m")
    key = ref.key_column
    returning = ", ".join(
        f"t.{c}"
        for c in dict.fromkeys(
            [
                key,
                *([ref.team_column] if ref.team_column else []),
                *([ref.team_via.fk_column] if ref.team_via else []),
            ]
        )
    )
    # Ordering by (model column, key) for plain columns matches their composite index, so
    # each batch is one index range scan starting at the cursor. No FOR UPDATE: the
    # UPDATE/DELETE locks the rows itself and re-checks ``match`` on rows a concurrent
    # writer changed, so a row moved elsewhere meanwhile is skipped, never clobbered.
    order = f"t.{key}" if ref.shape is Shape.JSON_NODES else f"t.{ref.column}, t.{key}"
    batch = f"""
WITH batch AS (
    SELECT t.{key} FROM {ref.table} t
    WHERE {match} AND {live} AND t.{key} > CAST(:after AS uuid)
    ORDER BY {order} LIMIT :limit
),"""
    in_batch = f"t.{key} = ANY(ARRAY(SELECT {key} FROM batch)) AND {match}"
    count = _COUNT_MOVED + _BATCH_OUTCOME.format(key=key)

    if ref.shape is Shape.LINK:
        add = (
            ""
            if clear
            else f"""
added AS (
    INSERT INTO {ref.table} ({key}, {ref.column})
    SELECT {key}, CAST(:target AS uuid) FROM batch
    ON CONFLICT DO NOTHING
),"""
        )
        return text(
            f"""{batch}{add}
moved AS (DELETE FROM {ref.table} t WHERE {in_batch} RETURNING {returning}),
moved_teams AS (SELECT {team} AS team_id FROM moved m{team_join}),
{count}"""
        )

    if ref.shape is Shape.JSON_NODES:
        path_key = ref.json_key
        new_value = _new_json_value(ref, clear)
        assignment = f"""{ref.column} = jsonb_set(t.{ref.column}, '{{nodes}}', (
        SELECT jsonb_agg(
            CASE WHEN lower(e.node -> 'params' ->> '{path_key}')
                      = CAST(CAST(:source AS uuid) AS text)
                 THEN jsonb_set(e.node, '{{params,{path_key}}}', {new_value})
                 ELSE e.node END
            ORDER BY e.ord)
        FROM jsonb_array_elements(t.{ref.column} -> 'nodes') WITH ORDINALITY AS e(node, ord)))"""
    else:
        value = "NULL" if clear else "CAST(:target AS uuid)"
        assignment = f"{ref.column} = {value}"
        for column, literal in ref.reset_on_move:
            assignment += f", {column} = {RESET_LITERALS[literal]}"

    if ref.shape is Shape.JSON_NODES:
        return text(
            f"""{batch}
moved AS (UPDATE {ref.table} t SET {assignment} WHERE {in_batch} RETURNING {returning}),
moved_teams AS (SELECT {team} AS team_id FROM moved m{team_join}),
{count}"""
        )
    # A plain column: find the batch's last key with an index-only probe, then update the
    # whole key range in one index range scan (each row is visited once, as a single
    # UPDATE would). No bound means fewer than :limit rows are left: take them all.
    return text(
        f"""
WITH bound AS (
    SELECT t.{key} FROM {ref.table} t
    WHERE {match} AND {live} AND t.{key} > CAST(:after AS uuid)
    ORDER BY {order} OFFSET :limit - 1 LIMIT 1
),
moved AS (
    UPDATE {ref.table} t SET {assignment}
    WHERE {match} AND {live} AND t.{key} > CAST(:after AS uuid)
      AND t.{key} <= COALESCE((SELECT {key} FROM bound), CAST(:last_uuid AS uuid))
    RETURNING {returning}
),
moved_teams AS (SELECT {team} AS team_id FROM moved m{team_join}),
{_COUNT_MOVED}
{_RANGE_OUTCOME.format(key=key)}"""
    )


@dataclass(frozen=True)
class BatchOutcome:
    selected: int
    moved: int
    last_key: uuid.UUID | None


async def move_batch(
    session: AsyncSession,
    ref: Reference,
    *,
    migration_id: uuid.UUID,
    source: uuid.UUID,
    target: uuid.UUID | None,
    limit: int,
    after: uuid.UUID = FIRST_KEY,
    scope: Scope | None = None,
) -> BatchOutcome:
    """Move one batch of rows whose key follows ``after`` (within ``scope`` when moving)."""
    if target is not None and scope is None:
        raise ValueError("a move needs the request's scope")
    params: dict[str, Any] = {
        "migration_id": migration_id,
        "label": ref.label,
        "source": source,
        "limit": limit,
        "after": after,
        **(_scope_params(scope) if target is not None else {}),
    }
    if ref.shape is Shape.COLUMN:
        params["last_uuid"] = LAST_KEY
    if target is not None:
        params["target"] = target
    team_scoped = target is not None and scope is not None and scope.team is not None
    statement = move_batch_statement(ref, clear=target is None, team_scoped=team_scoped)
    row = (await session.execute(statement, params)).one()
    return BatchOutcome(int(row.selected), int(row.moved), row.last_key)


async def relax_commit_durability(session: AsyncSession) -> None:
    """Let this transaction's commit return before its WAL reaches disk.

    Safe for a batch: its rows, counts and progress commit (or vanish, on a server crash)
    together, and a resumed request redoes whatever vanished. Final transactions keep
    full durability.
    """
    await session.execute(text("SET LOCAL synchronous_commit = off"))


async def record_batch_progress(
    session: AsyncSession,
    migration_id: uuid.UUID,
    label: str,
    rows: int,
    cursor: uuid.UUID | None,
) -> None:
    """Add ``rows`` to ``progress.done[label]``, count the batch, keep the keyset cursor."""
    await session.execute(
        text(
            """
UPDATE model_migrations SET progress = jsonb_set(jsonb_set(jsonb_set(
        progress || jsonb_build_object('cursor', COALESCE(progress -> 'cursor', '{}'::jsonb)),
        ARRAY['done', CAST(:label AS text)],
        to_jsonb(COALESCE((progress #>> ARRAY['done', CAST(:label AS text)])::bigint, 0) + :rows)),
    '{batches}', to_jsonb(COALESCE((progress ->> 'batches')::bigint, 0) + 1)),
    ARRAY['cursor', CAST(:label AS text)],
    COALESCE(to_jsonb(CAST(:cursor AS text)), progress #> ARRAY['cursor', CAST(:label AS text)],
             'null'::jsonb))
WHERE id = :id"""
        ),
        {
            "id": migration_id,
            "label": label,
            "rows": rows,
            "cursor": str(cursor) if cursor else None,
        },
    )


async def lock_live_model(session: AsyncSession, model_id: uuid.UUID) -> bool:
    """Share-lock ``model_id`` until the transaction ends if it is neither migrated nor
    deleted; ``False`` if it is retired (or gone).

    The main application's protocol before it points a row at a model: a retiring
    request takes the row ``FOR UPDATE`` for its final sweep, so it waits for this
    transaction and then sweeps what it wrote; afterwards nobody writes to it again.
    """
    found = await session.scalar(
        select(LlmModel.id)
        .where(
            LlmModel.id == model_id,
            LlmModel.migrated_to_model_id.is_(None),
            LlmModel.deleted_at.is_(None),
        )
        .with_for_update(read=True)
    )
    return found is not None


async def exists_unclearable(
    session: AsyncSession, refs: tuple[Reference, ...], source: uuid.UUID
) -> bool:
    """Whether any live, non-clearable reference still points at ``source``."""
    for ref in refs:
        if ref.clearable:
            continue
        hit = await session.scalar(
            text(
                f"SELECT EXISTS (SELECT 1 FROM {ref.table} t "
                f"WHERE {match_sql(ref, 't', 'source')} AND {live_row_sql(ref, 't')})"
            ),
            {"source": source},
        )
        if hit:
            return True
    return False


@dataclass(frozen=True)
class OutOfScope:
    """Live references to a source that its request may not move: rows of other teams
    (or global configuration) for a custom target, rows in spaces above its level."""

    other_teams: dict[str, int]
    above_level: dict[str, int]


async def out_of_scope(
    session: AsyncSession, refs: tuple[Reference, ...], source: uuid.UUID, scope: Scope
) -> OutOfScope:
    """Count, per label, the live references to ``source`` outside ``scope``."""
    other: dict[str, int] = {}
    above: dict[str, int] = {}
    params = {"source": source, **_scope_params(scope)}
    for ref in refs:
        base = f"{match_sql(ref, 't', 'source')} AND {live_row_sql(ref, 't')}"
        probes = [(above, level_scope_sql(ref, "t"))]
        if scope.team is not None:
            probes.append((other, team_scope_sql(ref, "t")))
        for found, allowed in probes:
            if allowed == "TRUE":
                continue
            n = await session.scalar(
                text(f"SELECT count(*) FROM {ref.table} t WHERE {base} AND NOT ({allowed})"),
                params,
            )
            if n:
                found[ref.label] = int(n)
    return OutOfScope(other, above)


async def spaces_above_level(
    session: AsyncSession, refs: tuple[Reference, ...], source: uuid.UUID, level: int
) -> int:
    """How many linked parents enabling ``source`` require a level above ``level``."""
    total = 0
    for ref in refs:
        via = ref.team_via
        if via is None or via.level_column is None:
            continue
        n = await session.scalar(
            text(
                f"SELECT count(*) FROM {ref.table} t JOIN {via.parent_table} p "
                f"ON p.id = t.{via.fk_column} WHERE {match_sql(ref, 't', 'source')} "
                f"AND p.{via.level_column} > :level"
            ),
            {"source": source, "level": level},
        )
        total += int(n or 0)
    return total


async def repoint_model_pointers(
    session: AsyncSession, source: uuid.UUID, target: uuid.UUID | None
) -> dict[str, int]:
    """Models migrated to (or replaced by) ``source`` now name ``target`` (no chains)."""
    migrated = (
        await session.execute(
            update(LlmModel)
            .where(LlmModel.migrated_to_model_id == source, LlmModel.id != target)
            .values(migrated_to_model_id=target, updated_at=func.now())
        )
        if target is not None
        else None
    )
    replaced = await session.execute(
        update(LlmModel)
        .where(LlmModel.replacement_model_id == source)
        .values(replacement_model_id=target, updated_at=func.now())
    )
    return {
        "migrated_pointers": int(getattr(migrated, "rowcount", 0) or 0),
        "replacement_pointers": int(getattr(replaced, "rowcount", 0) or 0),
    }


async def retire_source(
    session: AsyncSession, source: uuid.UUID, *, kind: str, target: uuid.UUID | None
) -> None:
    """Mark the source migrated (to ``target``) or soft-deleted."""
    values: dict[str, Any] = {"updated_at": func.now()}
    if kind == "migration":
        values["migrated_to_model_id"] = target
    else:
        values["deleted_at"] = func.now()
    await session.execute(update(LlmModel).where(LlmModel.id == source).values(**values))


async def counts_by_label_and_team(
    session: AsyncSession, migration_id: uuid.UUID
) -> list[tuple[str, uuid.UUID | None, int]]:
    """Rows changed so far, per (label, team), summed over the request's batches.

    The per-batch maps are summed here rather than with ``jsonb_each`` in SQL: a few
    hundred rows of maps add up faster than a GROUP BY over every (batch, team) pair.
    """
    # Read a few batch rows at a time (a driver-side stream would prefetch dozens of
    # maps): memory holds one total per (label, team), never every batch's map.
    totals: Counter[tuple[str, str]] = Counter()
    after = FIRST_KEY
    while True:
        page = (
            await session.execute(
                select(ModelMigrationBatch.id, ModelMigrationBatch.label, ModelMigrationBatch.teams)
                .where(
                    ModelMigrationBatch.migration_id == migration_id,
                    ModelMigrationBatch.id > after,
                )
                .order_by(ModelMigrationBatch.id)
                .limit(COUNT_PAGE)
            )
        ).all()
        for _, label, teams in page:
            for team, n in teams.items():
                totals[(label, team)] += int(n)
        if len(page) < COUNT_PAGE:
            break
        after = page[-1].id
    return [
        (label, uuid.UUID(team) if team else None, n) for (label, team), n in sorted(totals.items())
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


async def active_request_for(session: AsyncSession, source: uuid.UUID) -> ModelMigration | None:
    """The pending or running request for ``source``, if any."""
    stmt = select(ModelMigration).where(
        ModelMigration.from_model_id == source,
        ModelMigration.status.in_(("pending", "running")),
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
    session: AsyncSession, model_id: uuid.UUID | None, provider: str | None, name: str | None
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


# Requests left pending/running with no sign of life (start or batch) for longer than
# ``$1`` seconds: no try can still be working on them. Plain SQL for a bare asyncpg
# connection (the health check); newest first.
STUCK_REQUESTS_SQL = """
SELECT m.request_key, m.status
FROM model_migrations m
WHERE m.status IN ('pending', 'running')
  AND GREATEST(m.created_at, m.started_at,
               (SELECT max(b.created_at) FROM model_migration_batches b
                WHERE b.migration_id = m.id)) < now() - make_interval(secs => $1)
ORDER BY m.created_at DESC
"""
