"""SQL over the reference registry: where a model is used, by whom, and how much.

Every statement is built from :mod:`db.registry` entries, whose identifiers are
validated there; model ids are always bound parameters.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.registry import (
    REFERENCES,
    Reference,
    Shape,
    check_identifiers,
    history_references,
    live_references,
)

Executor = AsyncSession | AsyncConnection


def match_sql(ref: Reference, alias: str = "t", param: str = "model_id") -> str:
    """A predicate true for rows of ``ref`` that point at ``:param``."""
    if ref.shape is Shape.JSON_NODES:
        # Ids match in canonical (lower-case) form however the host wrote them; the
        # containment is served by the jsonb_path_ops GIN index on that same expression.
        return (
            f"{canonical_json_sql(ref, alias)} @> jsonb_build_object('nodes', jsonb_build_array("
            f"jsonb_build_object('params', jsonb_build_object('{ref.json_key}', "
            f"CAST(CAST(:{param} AS uuid) AS text)))))"
        )
    return f"{alias}.{ref.column} = :{param}"


def canonical_json_sql(ref: Reference, alias: str = "t") -> str:
    """The JSON column with every letter in lower case: UUIDs in their canonical form.

    Lowering the whole document keeps it valid JSON (escapes are lower-case already, and
    ``\\uXXXX`` digits are case-blind) and leaves the lower-case keys as they were.
    """
    return f"CAST(lower(CAST({alias}.{ref.column} AS text)) AS jsonb)"


def live_row_sql(ref: Reference, alias: str = "t") -> str:
    """A predicate excluding soft-deleted rows (``TRUE`` where there is no such column)."""
    if ref.soft_delete_column:
        return f"{alias}.{ref.soft_delete_column} IS NULL"
    return "TRUE"


def team_scope_sql(ref: Reference, alias: str = "t") -> str:
    """A predicate true for rows of ``ref`` that belong to team ``:scope_team``."""
    if ref.team_via:
        via = ref.team_via
        return (
            f"EXISTS (SELECT 1 FROM {via.parent_table} p WHERE p.id = {alias}.{via.fk_column} "
            f"AND p.{via.team_column} = CAST(:scope_team AS uuid))"
        )
    if ref.team_column:
        return f"{alias}.{ref.team_column} = CAST(:scope_team AS uuid)"
    return "FALSE"  # global configuration belongs to no team


def level_scope_sql(ref: Reference, alias: str = "t") -> str:
    """A predicate true for rows of ``ref`` whose parent asks no more than ``:scope_level``."""
    via = ref.team_via
    if via is None or via.level_column is None:
        return "TRUE"
    return (
        f"NOT EXISTS (SELECT 1 FROM {via.parent_table} p WHERE p.id = {alias}.{via.fk_column} "
        f"AND p.{via.level_column} > :scope_level)"
    )


def team_sql(ref: Reference, alias: str = "t") -> tuple[str, str]:
    """(FROM-clause addition, team expression) for grouping ``ref`` rows by team."""
    if ref.team_via:
        via = ref.team_via
        return (
            f" JOIN {via.parent_table} p ON p.id = {alias}.{via.fk_column}",
            f"p.{via.team_column}",
        )
    if ref.team_column:
        return "", f"{alias}.{ref.team_column}"
    return "", "NULL::uuid"


@dataclass
class Usage:
    """Rows referring to one model for one registry label."""

    total: int = 0
    teams: dict[uuid.UUID | None, int] = field(default_factory=dict)


Impact = dict[str, Usage]


def _count_statement(ref: Reference, include_soft_deleted: bool) -> TextClause:
    join, team = team_sql(ref)
    where = match_sql(ref)
    if not include_soft_deleted:
        where += f" AND {live_row_sql(ref)}"
    return text(
        f"SELECT {team} AS team_id, count(*) AS n FROM {ref.table} t{join} WHERE {where} GROUP BY 1"
    )


async def usage_by_team(
    db: Executor,
    model_id: uuid.UUID,
    references: Iterable[Reference] | None = None,
    *,
    include_soft_deleted: bool = False,
) -> Impact:
    """Per label, the rows referring to ``model_id`` in total and per team.

    Labels with no rows are left out. Soft-deleted rows count only when asked for.
    """
    refs = tuple(live_references() if references is None else references)
    check_identifiers(refs)
    impact: Impact = {}
    for ref in refs:
        rows = await db.execute(_count_statement(ref, include_soft_deleted), {"model_id": model_id})
        usage = Usage()
        for team_id, n in rows:
            usage.teams[team_id] = usage.teams.get(team_id, 0) + int(n)
            usage.total += int(n)
        if usage.total:
            impact[ref.label] = usage
    return impact


def impact_totals(impact: Impact) -> dict[str, int]:
    """``{label: rows}`` for reports."""
    return {label: usage.total for label, usage in impact.items()}


def impact_by_team(impact: Impact) -> dict[str, dict[str, int]]:
    """``{team_id: {label: rows}}`` (teamless rows left out): the outbox payload shape."""
    out: dict[str, dict[str, int]] = {}
    for label, usage in impact.items():
        for team_id, n in usage.teams.items():
            if team_id is not None:
                out.setdefault(str(team_id), {})[label] = n
    return out


async def referencing_labels(
    db: Executor,
    model_id: uuid.UUID,
    references: Iterable[Reference] | None = None,
    *,
    include_soft_deleted: bool = False,
) -> list[str]:
    """Labels with at least one row referring to ``model_id`` (index-backed EXISTS probes)."""
    refs = tuple(REFERENCES if references is None else references)
    check_identifiers(refs)
    found = []
    for ref in refs:
        where = match_sql(ref)
        if not include_soft_deleted:
            where += f" AND {live_row_sql(ref)}"
        hit = await db.scalar(
            text(f"SELECT EXISTS (SELECT 1 FROM {ref.table} t WHERE {where})"),
            {"model_id": model_id},
        )
        if hit:
            found.append(ref.label)
    return found


def _recent_statement(ref: Reference) -> TextClause:
    join, team = team_sql(ref)
    return text(
        f"SELECT {team} AS team_id, count(*) AS n FROM {ref.table} t{join} "
        f"WHERE {match_sql(ref)} "
        f"AND t.{ref.time_column} >= now() - make_interval(days => :days) GROUP BY 1"
    )


async def recent_history_by_team(
    db: Executor, model_id: uuid.UUID, days: int
) -> dict[str, dict[str, int]]:
    """``{team_id: {label: rows}}`` of history produced on ``model_id`` in the last
    ``days`` days (history references with a time column; teamless rows left out)."""
    refs = tuple(r for r in history_references() if r.time_column)
    check_identifiers(refs)
    out: dict[str, dict[str, int]] = {}
    for ref in refs:
        rows = await db.execute(_recent_statement(ref), {"model_id": model_id, "days": days})
        for team_id, n in rows:
            if team_id is not None and n:
                out.setdefault(str(team_id), {})[ref.label] = int(n)
    return out
