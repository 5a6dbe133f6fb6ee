"""SQL of the re-pointing: batches that move (or clear) live references, the request's
scope, the final sweep's probes, and the model pointers.

Statements are built from a platform's references (identifiers validated by
``check_identifiers``) with the pieces in :mod:`db.queries.reference_sql`; ids, limits
and labels are bound parameters, compared straight against the host's columns so
PostgreSQL types them whatever the host's key type. Request rows are in
:mod:`db.queries.requests`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import TextClause, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId, id_text, parse_host_id
from db.models import LlmModel
from db.queries.parameters import covered_sql, rewrites, translated_sql
from db.queries.reference_sql import (
    all_of,
    id_params,
    json_rewrite_sql,
    level_scope_sql,
    live_row_sql,
    match_sql,
    new_column_value_sql,
    new_json_value_sql,
    team_scope_sql,
    team_sql,
)
from db.queries.references import exists_statement
from db.reference import RESET_LITERALS, Reference, Shape, check_identifiers, constant_sql

# Records the rows a batch changed, per team, in the statement that changes them.
_COUNT_MOVED = """
per_team AS (SELECT team_id, count(*) AS n FROM moved_teams GROUP BY team_id),
counted AS (
    INSERT INTO model_migration_batches (migration_id, label, rows, teams)
    SELECT :migration_id, CAST(:label AS text), sum(n),
           jsonb_object_agg(COALESCE(CAST(team_id AS text), ''), n)
    FROM per_team HAVING sum(n) > 0
)"""
_MOVED = "(SELECT COALESCE(sum(n), 0) FROM per_team)"
_BATCH_OUTCOME = f"""
SELECT (SELECT count(*) FROM batch) AS selected, {_MOVED} AS moved,
       (SELECT {{key}} FROM batch ORDER BY {{key}} DESC LIMIT 1) AS last_key
"""


@dataclass(frozen=True)
class Scope:
    """The rows a request was admitted for: those of ``teams`` (``None``: every team's,
    and rows of no team) whose parents (spaces) ask no more than ``level``.

    ``chosen``: the request named its teams, so another team's row is simply not its
    business; otherwise ``teams`` is the custom target's team, and another team's row is
    one the request cannot serve (a refusal).
    """

    teams: tuple[HostId, ...] | None
    level: int
    chosen: bool = False

    @classmethod
    def of(cls, target: LlmModel | None, teams: tuple[HostId, ...] | None = None) -> Scope:
        """The scope of a request for ``teams`` (``None``: all) moving to ``target``
        (``None``: clearing)."""
        level = 0 if target is None else target.security_level or 0
        if teams is not None:
            return cls(teams, level, chosen=True)
        custom = None if target is None or target.team_id is None else (target.team_id,)
        return cls(custom, level)


def _scope_sql(ref: Reference, *, team_scoped: bool) -> str:
    team = team_scope_sql(ref, "t") if team_scoped else "TRUE"
    return all_of(level_scope_sql(ref, "t"), team)


def _scope_params(scope: Scope | None, *, clear: bool = False) -> dict[str, Any]:
    """``:scope_level`` (not for a clear: it puts nothing in a space) and
    ``:scope_teams`` (when the scope has teams)."""
    if scope is None:
        return {}
    params: dict[str, Any] = {} if clear else {"scope_level": scope.level}
    if scope.teams is not None:
        params["scope_teams"] = list(scope.teams)
    return params


def _returning(ref: Reference) -> str:
    """The moved rows' columns their teams are read from."""
    columns = [ref.key_column]
    columns += [ref.team_column] if ref.team_column else []
    columns += [ref.team_via.fk_column] if ref.team_via else []
    return ", ".join(f"t.{c}" for c in dict.fromkeys(columns))


def _moved_teams(ref: Reference) -> str:
    join, team = team_sql(ref, "m")
    return f"moved_teams AS (SELECT {team} AS team_id FROM moved m{join}),"


def _translates(ref: Reference, *, clear: bool) -> bool:
    """A move carries ``ref``'s parameters to the target (by ``:param_rules``)."""
    return ref.parameters is not None and not clear


def _candidates(ref: Reference, *, clear: bool, team_scoped: bool, first: bool) -> str:
    """Rows a batch may take: pointing at ``:source``, live, in scope, after the cursor."""
    where = all_of(match_sql(ref, "t", "source"), live_row_sql(ref, "t"))
    if clear:  # a clear puts nothing in a space: only the teams limit it
        scope = team_scope_sql(ref, "t") if team_scoped else "TRUE"
    else:
        scope = _scope_sql(ref, team_scoped=team_scoped)
    if scope != "TRUE":
        where += f"\n      AND {scope}"
    if _translates(ref, clear=clear):
        where += f"\n      AND {covered_sql(ref)}"
    if not first:
        where += f" AND t.{ref.key_column} > :after"
    return where


@cache
def move_batch_statement(
    ref: Reference,
    *,
    clear: bool,
    team_scoped: bool = False,
    first: bool = False,
    parameters_kept: bool = False,
) -> TextClause:
    """Move (or clear) up to ``:limit`` rows of ``ref`` from ``:source`` to ``:target``.

    A reference with a parameters column rewrites it by ``:param_rules``
    (:mod:`db.queries.parameters`) in the same statement, and takes only rows whose every
    parameter has a rule; with ``parameters_kept`` (no rule changes its pair) it takes
    the same rows and leaves the column as it is.

    Rows are taken in key order after ``:after`` (a keyset cursor, so a batch never
    re-reads the index entries that earlier batches moved; ``first`` has no cursor yet).
    Returns (rows selected, rows changed, last key) and records the rows changed per team
    in ``model_migration_batches`` in the same statement. Rows that are not live
    (soft-deleted, archived) are left alone (cleanup handles them). A move takes only rows
    in the request's scope (``:scope_level``, and ``:scope_teams`` when ``team_scoped``):
    a row written later by another team, or in a space above the target's level, is never
    moved onto the target. A clear is limited by ``:scope_teams`` alone.
    """
    check_identifiers((ref,))
    if clear and not ref.clearable:
        raise ValueError(f"{ref.label} references cannot be cleared")
    where = _candidates(ref, clear=clear, team_scoped=team_scoped, first=first)
    if ref.shape is Shape.LINK:
        return _link_move(ref, where, clear=clear)
    rewrite = _translates(ref, clear=clear) and not parameters_kept
    if ref.shape is Shape.JSON:
        return _json_move(ref, where, clear=clear, rewrite=rewrite)
    return _column_move(ref, where, clear=clear, rewrite=rewrite)


def changed_columns(ref: Reference, *, clear: bool) -> list[str]:
    """The columns a move (or clear) of a column or JSON reference writes (the parameters
    column even where a batch keeps it as it is: the journal and the undo treat every
    batch of a reference alike)."""
    columns = [ref.column]
    columns += [ref.json_copy.column] if ref.json_copy else []
    if not clear:
        columns += [column for column, _ in ref.reset_on_move]
        columns += [ref.parameters] if _translates(ref, clear=clear) and ref.parameters else []
    return list(dict.fromkeys(columns))


def journaled_columns(ref: Reference, *, clear: bool) -> list[str]:
    """The changed columns whose values the journal keeps: all but a column reference's
    model column, which held the source before and holds the target (``NULL`` for a
    clear) after, both known to the undo."""
    model = ref.column if ref.shape is Shape.COLUMN else None
    return [c for c in changed_columns(ref, clear=clear) if c != model]


def row_values_sql(columns: list[str], alias: str = "t") -> str:
    """The row's ``columns`` (at least one) as one jsonb object (what the journal keeps
    and compares).

    A column that is SQL NULL is left out of the object (``->`` then gives NULL back),
    so it is never confused with a JSON ``null`` held in a jsonb column.
    """
    assert columns, "a plain column reference journals no values"
    pairs = ", ".join(f"'{c}', {alias}.{c}" for c in columns)
    nulls = ", ".join(f"CASE WHEN {alias}.{c} IS NULL THEN '{c}' END" for c in columns)
    return f"(jsonb_build_object({pairs}) - ARRAY[{nulls}])"


def _journal(ref: Reference, rows: str, old_values: str | None) -> str:
    """Journals the rows a statement changed, in that statement, as one row of arrays
    (``undo_request`` puts back what still holds the new values): the key of each moved
    row ``m`` of ``rows`` and, unless ``old_values`` is ``None`` (the undo knows every
    column the statement changed), its ``old_values`` and ``m.new_values``. One journal
    row (and one index entry) for a batch, however many rows it changed."""
    entries = (
        "NULL, NULL" if old_values is None else f"array_agg({old_values}), array_agg(m.new_values)"
    )
    return f"""
journaled AS (
    INSERT INTO request_journal (migration_id, label, row_keys, old_values, new_values)
    SELECT :migration_id, CAST(:label AS text), array_agg(CAST(m.{ref.key_column} AS text)),
           {entries}
    FROM {rows} HAVING count(*) > 0
),"""


def _locked_batch(ref: Reference, where: str, order: str, columns: list[str]) -> str:
    # The batch's rows are locked as they are read: the values journaled as they were
    # are those the UPDATE then changes, whatever a concurrent writer did before.
    key = ref.key_column
    old = f", {row_values_sql(columns)} AS old_values" if columns else ""
    return f"""
WITH batch AS (
    SELECT t.{key}{old} FROM {ref.table} t
    WHERE {where}
    ORDER BY {order} LIMIT :limit
    FOR UPDATE OF t
),"""


def _in_batch(ref: Reference) -> str:
    key = ref.key_column
    return f"t.{key} = ANY(ARRAY(SELECT {key} FROM batch)) AND {match_sql(ref, 't', 'source')}"


def _link_move(ref: Reference, where: str, *, clear: bool) -> TextClause:
    # Ordering by (model column, key) matches the link table's key, so each batch is one
    # index range scan starting at the cursor. No FOR UPDATE: the DELETE locks the rows
    # itself and re-checks the match on rows a concurrent writer changed. The journal
    # keeps each deleted row whole, and whether this request inserted the target's link
    # (``ON CONFLICT DO NOTHING`` returns only the rows it inserted).
    key = ref.key_column
    # The table's other NOT NULL columns, from the mapping's ``insert`` constants.
    columns = "".join(f", {column}" for column, _ in ref.insert_values)
    values = "".join(f", {constant_sql(value)}" for _, value in ref.insert_values)
    added = (
        ""
        if clear
        else f"""
added AS (
    INSERT INTO {ref.table} ({key}, {ref.column}{columns})
    SELECT {key}, :target{values} FROM batch
    ON CONFLICT DO NOTHING
    RETURNING {key}
),"""
    )
    was_added = "FALSE" if clear else f"t.{key} IN (SELECT {key} FROM added)"
    return text(
        f"""
WITH batch AS (
    SELECT t.{key} FROM {ref.table} t
    WHERE {where}
    ORDER BY t.{ref.column}, t.{key} LIMIT :limit
),{added}
moved AS (
    DELETE FROM {ref.table} t WHERE {_in_batch(ref)}
    RETURNING {_returning(ref)}, to_jsonb(t) AS old_values,
              jsonb_build_object('added', {was_added}) AS new_values
),{_journal(ref, "moved m", "m.old_values")}
{_moved_teams(ref)}{_COUNT_MOVED}{_BATCH_OUTCOME.format(key=key)}"""
    )


def _json_move(ref: Reference, where: str, *, clear: bool, rewrite: bool) -> TextClause:
    assert ref.json is not None
    value = new_json_value_sql(ref.json, clear=clear)
    assignment = f"{ref.column} = {json_rewrite_sql(ref.json, new_value=value)}"
    if rewrite:
        assignment += f", {ref.parameters} = {translated_sql(ref)}"
    order = f"t.{ref.key_column}"
    return _update_move(ref, where, assignment, clear=clear, order=order)


def _column_move(ref: Reference, where: str, *, clear: bool, rewrite: bool) -> TextClause:
    # The JSON copy of the id, if any, changes in the same UPDATE, so the two never
    # disagree.
    assignment = new_column_value_sql(ref, clear=clear)
    if not clear:
        assignment += "".join(f", {c} = {RESET_LITERALS[v]}" for c, v in ref.reset_on_move)
    if rewrite:
        assignment += f", {ref.parameters} = {translated_sql(ref)}"
    order = f"t.{ref.column}, t.{ref.key_column}"
    return _update_move(ref, where, assignment, clear=clear, order=order)


def _update_move(
    ref: Reference, where: str, assignment: str, *, clear: bool, order: str
) -> TextClause:
    """An UPDATE of a locked batch that journals each row's changed columns (those
    :func:`journaled_columns` names) as they were and as they are now.

    The UPDATE finds its rows by the batch's keys (the key's index), not by a join with
    the batch, which the planner makes a hash join over the whole table, once per batch;
    the journal pairs each moved row with its values as they were.
    """
    key = ref.key_column
    columns = journaled_columns(ref, clear=clear)
    in_batch = f"t.{key} = ANY(ARRAY(SELECT {key} FROM batch))"
    new = ""
    journal = _journal(ref, "moved m", None)
    if columns:  # a plain column reference journals its keys alone
        new = f", {row_values_sql(columns)} AS new_values"
        journal = _journal(ref, f"moved m JOIN batch b ON b.{key} = m.{key}", "b.old_values")
    return text(
        f"""{_locked_batch(ref, where, order, columns)}
moved AS (
    UPDATE {ref.table} t SET {assignment}
    WHERE {in_batch}
    RETURNING {_returning(ref)}{new}
),{journal}
{_moved_teams(ref)}{_COUNT_MOVED}{_BATCH_OUTCOME.format(key=key)}"""
    )


@dataclass(frozen=True)
class BatchOutcome:
    selected: int
    moved: int
    last_key: HostId | None


async def move_batch(
    session: AsyncSession,
    ref: Reference,
    *,
    migration_id: uuid.UUID,
    source: HostId,
    target: HostId | None,
    limit: int,
    after: HostId | None = None,
    scope: Scope | None = None,
    param_rules: list[dict[str, Any]] | None = None,
) -> BatchOutcome:
    """Move one batch of rows whose key follows ``after`` (all keys when ``None``),
    within ``scope`` when moving; ``param_rules`` decide the parameters a move carries
    (a reference with a parameters column needs them)."""
    if target is not None and scope is None:
        raise ValueError("a move needs the request's scope")
    params: dict[str, Any] = {
        "migration_id": migration_id,
        "label": ref.label,
        "limit": limit,
        **id_params(ref, "source", source),
        **_scope_params(scope, clear=target is None),
    }
    if after is not None:
        params["after"] = after
    if target is not None:
        params.update(id_params(ref, "target", target))
    if _translates(ref, clear=target is None):
        if param_rules is None:
            raise ValueError(f"{ref.label}: moving its parameters needs their rules")
        params["param_rules"] = json.dumps(param_rules)
    team_scoped = scope is not None and scope.teams is not None
    statement = move_batch_statement(
        ref,
        clear=target is None,
        team_scoped=team_scoped,
        first=after is None,
        parameters_kept=param_rules is not None and not rewrites(param_rules),
    )
    row = (await session.execute(statement, params)).one()
    last = row.last_key
    return BatchOutcome(int(row.selected), int(row.moved), None if last is None else _host_id(last))


def _host_id(value: object) -> HostId:
    # asyncpg returns its own UUID subclass: hand out the standard one.
    if isinstance(value, uuid.UUID):
        return uuid.UUID(int=value.int)
    return parse_host_id(value)


async def relax_commit_durability(session: AsyncSession) -> None:
    """Let this transaction's commit return before its WAL reaches disk.

    Safe for a batch: its rows, counts and progress commit (or vanish, on a server crash)
    together, and a resumed request redoes whatever vanished. Final transactions keep
    full durability.
    """
    await session.execute(text("SET LOCAL synchronous_commit = off"))


async def plan_without_jit(session: AsyncSession) -> None:
    """Plan this transaction's statements without JIT compilation.

    A batch (or the final sweep) changes a few thousand rows in tens of milliseconds, but
    a per-row subquery over a JSON column (the parameters rewrite, a JSON path) lifts the
    planner's estimate over ``jit_above_cost``, and PostgreSQL then compiles the statement
    on every execution: 0.3-0.45 s for a batch of 5,000 assistants, several times the
    move itself. Batches sized toward a target time then shrank to the minimum, each
    paying the compilation again (docs/benchmarks.md, the migration benchmark).
    """
    await session.execute(text("SET LOCAL jit = off"))


async def lock_live_model(session: AsyncSession, model_id: HostId) -> bool:
    """Share-lock ``model_id`` until the transaction ends if it is neither migrated nor
    deleted; ``False`` if it is retired (or gone).

    The main application's protocol before it points a row at a model: a retiring
    request takes the row ``FOR UPDATE`` for its final sweep, so it waits for this
    transaction and then sweeps what it wrote; afterwards nobody writes to it again.
    Lock first, then read the state in a second statement: on a host whose lifecycle
    state the worker keeps beside the model row, a read in the locking statement could
    miss what the request that held the lock committed.
    """
    locked = await session.scalar(
        select(LlmModel.id).where(LlmModel.id == model_id).with_for_update(read=True)
    )
    if locked is None:
        return False
    found = await session.scalar(
        select(LlmModel.id).where(
            LlmModel.id == model_id,
            LlmModel.migrated_to_model_id.is_(None),
            LlmModel.deleted_at.is_(None),
        )
    )
    return found is not None


async def exists_unclearable(
    session: AsyncSession, refs: tuple[Reference, ...], source: HostId, scope: Scope | None
) -> bool:
    """Whether any live, non-clearable reference of the request's teams (``scope``:
    ``None`` or no teams, any row) still points at ``source``."""
    teams = None if scope is None else scope.teams
    for ref in refs:
        if ref.clearable:
            continue
        params = id_params(ref, "model_id", source)
        if teams is not None:
            params["scope_teams"] = list(teams)
        statement = exists_statement(ref, team_scoped=teams is not None)
        if await session.scalar(statement, params):
            return True
    return False


@dataclass(frozen=True)
class OutOfScope:
    """Live references to a source that its request may not move: rows of other teams
    (or global configuration) for a custom target, rows in spaces above its level."""

    other_teams: dict[str, int]
    above_level: dict[str, int]


def scope_probe_statement(
    ref: Reference, *, team: bool, within_teams: bool = False
) -> TextClause | None:
    """Count live rows of ``ref`` on ``:source`` outside the scope: of none of the teams
    ``:scope_teams`` (``team``; a row of no team is of none) or above ``:scope_level`` (of
    those teams' rows only, ``within_teams``); ``None`` when none can be."""
    allowed = team_scope_sql(ref, "t") if team else level_scope_sql(ref, "t")
    if allowed == "TRUE":
        return None
    mine = team_scope_sql(ref, "t") if within_teams else "TRUE"
    return text(
        f"SELECT count(*) FROM {ref.table} t "
        f"WHERE {all_of(match_sql(ref, 't', 'source'), live_row_sql(ref, 't'), mine)} "
        f"AND NOT COALESCE({allowed}, FALSE)"
    )


async def out_of_scope(
    session: AsyncSession, refs: tuple[Reference, ...], source: HostId, scope: Scope
) -> OutOfScope:
    """Count, per label, the live references to ``source`` the request may not move.

    For a request that chose its teams, only their rows count (another team's rows are
    simply not its business); otherwise the rows of teams other than the custom target's.
    """
    other: dict[str, int] = {}
    above: dict[str, int] = {}
    check_identifiers(refs)
    for ref in refs:
        params = {**id_params(ref, "source", source), **_scope_params(scope)}
        probes = [(above, scope_probe_statement(ref, team=False, within_teams=scope.chosen))]
        if scope.teams is not None and not scope.chosen:
            probes.append((other, scope_probe_statement(ref, team=True)))
        for found, statement in probes:
            if statement is None:
                continue
            n = await session.scalar(statement, params)
            if n:
                found[ref.label] = int(n)
    return OutOfScope(other, above)


@dataclass(frozen=True)
class RepointedModels:
    """Models whose pointer at a source the final transaction moved to its target."""

    migrated: list[HostId]
    replaced: list[HostId]

    def counts(self) -> dict[str, int]:
        return {"migrated_pointers": len(self.migrated), "replacement_pointers": len(self.replaced)}

    def journal(self) -> dict[str, list[str]]:
        """The ids as text, as the request's progress keeps them for undo."""
        return {
            "migrated": [id_text(i) for i in self.migrated],
            "replaced": [id_text(i) for i in self.replaced],
        }


async def repoint_model_pointers(
    session: AsyncSession, source: HostId, target: HostId | None
) -> RepointedModels:
    """Models migrated to (or replaced by) ``source`` now name ``target`` (no chains).

    The ids are read first, then those rows updated: under the source row lock no other
    request can point a model at the source meanwhile. Undo reads which ones moved.
    """
    migrated: list[HostId] = []
    if target is not None:
        migrated = list(
            await session.scalars(
                select(LlmModel.id).where(
                    LlmModel.migrated_to_model_id == source, LlmModel.id != target
                )
            )
        )
    replaced = list(
        await session.scalars(select(LlmModel.id).where(LlmModel.replacement_model_id == source))
    )
    if migrated:
        await session.execute(
            update(LlmModel)
            .where(LlmModel.id.in_(migrated))
            .values(migrated_to_model_id=target, updated_at=func.now())
        )
    if replaced:
        await session.execute(
            update(LlmModel)
            .where(LlmModel.id.in_(replaced))
            .values(replacement_model_id=target, updated_at=func.now())
        )
    return RepointedModels(migrated, replaced)


async def retire_source(
    session: AsyncSession, source: HostId, *, kind: str, target: HostId | None
) -> None:
    """Mark the source migrated (to ``target``) or soft-deleted."""
    values: dict[str, Any] = {"updated_at": func.now()}
    if kind == "migration":
        values["migrated_to_model_id"] = target
    else:
        values["deleted_at"] = func.now()
    await session.execute(update(LlmModel).where(LlmModel.id == source).values(**values))
