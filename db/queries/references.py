"""SQL over a platform's references: where a model is used, by whom, and how much.

Every statement is built from the references handed in (a platform's, validated by
``check_identifiers``) with the pieces in :mod:`db.queries.reference_sql`; model ids are
always bound parameters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.keys import HostId, id_text
from db.queries.reference_sql import (
    all_of,
    id_params,
    live_row_sql,
    match_sql,
    team_scope_sql,
    team_sql,
)
from db.reference import Reference, check_identifiers

Executor = AsyncSession | AsyncConnection


@dataclass
class Usage:
    """Rows referring to one model for one reference label."""

    total: int = 0
    teams: dict[HostId | None, int] = field(default_factory=dict)


Impact = dict[str, Usage]


def count_statement(ref: Reference, *, include_not_live: bool = False) -> TextClause:
    """Rows of ``ref`` pointing at ``:model_id``, per team (live rows only unless asked)."""
    join, team = team_sql(ref)
    where = match_sql(ref) if include_not_live else all_of(match_sql(ref), live_row_sql(ref))
    return text(
        f"SELECT {team} AS team_id, count(*) AS n FROM {ref.table} t{join} WHERE {where} GROUP BY 1"
    )


def exists_statement(
    ref: Reference, *, include_not_live: bool = False, team_scoped: bool = False
) -> TextClause:
    """Whether a row of ``ref`` points at ``:model_id`` (an index-backed probe), of one
    of the teams ``:scope_teams`` when ``team_scoped``."""
    where = match_sql(ref) if include_not_live else all_of(match_sql(ref), live_row_sql(ref))
    if team_scoped:
        where = all_of(where, team_scope_sql(ref))
    return text(f"SELECT EXISTS (SELECT 1 FROM {ref.table} t WHERE {where})")


def recent_statement(ref: Reference) -> TextClause:
    """History rows of ``ref`` on ``:model_id`` from the last ``:days`` days, per team."""
    join, team = team_sql(ref)
    return text(
        f"SELECT {team} AS team_id, count(*) AS n FROM {ref.table} t{join} "
        f"WHERE {match_sql(ref)} "
        f"AND t.{ref.time_column} >= now() - make_interval(days => :days) GROUP BY 1"
    )


async def usage_by_team(
    db: Executor,
    model_id: HostId,
    references: Iterable[Reference],
    *,
    include_not_live: bool = False,
) -> Impact:
    """Per label, the rows referring to ``model_id`` in total and per team.

    Labels with no rows are left out. Rows that are not live (soft-deleted, archived)
    count only when asked for.
    """
    refs = tuple(references)
    check_identifiers(refs)
    impact: Impact = {}
    for ref in refs:
        rows = await db.execute(
            count_statement(ref, include_not_live=include_not_live),
            id_params(ref, "model_id", model_id),
        )
        usage = Usage()
        for team_id, n in rows:
            usage.teams[team_id] = usage.teams.get(team_id, 0) + int(n)
            usage.total += int(n)
        if usage.total:
            impact[ref.label] = usage
    return impact


def impact_of_teams(impact: Impact, teams: Iterable[HostId]) -> Impact:
    """The part of ``impact`` that is the rows of ``teams`` (rows of no team left out)."""
    wanted = {id_text(team) for team in teams}
    out: Impact = {}
    for label, usage in impact.items():
        kept: dict[HostId | None, int] = {
            team: n
            for team, n in usage.teams.items()
            if team is not None and id_text(team) in wanted
        }
        if kept:
            out[label] = Usage(sum(kept.values()), kept)
    return out


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
    model_id: HostId,
    references: Iterable[Reference],
    *,
    include_not_live: bool = False,
) -> list[str]:
    """Labels with at least one row referring to ``model_id`` (index-backed EXISTS probes)."""
    refs = tuple(references)
    check_identifiers(refs)
    found = []
    for ref in refs:
        hit = await db.scalar(
            exists_statement(ref, include_not_live=include_not_live),
            id_params(ref, "model_id", model_id),
        )
        if hit:
            found.append(ref.label)
    return found


async def recent_history_by_team(
    db: Executor, model_id: HostId, days: int, references: Iterable[Reference]
) -> dict[str, dict[str, int]]:
    """``{team_id: {label: rows}}`` of history produced on ``model_id`` in the last
    ``days`` days (history references with a time column; teamless rows left out)."""
    refs = tuple(r for r in references if r.time_column)
    check_identifiers(refs)
    out: dict[str, dict[str, int]] = {}
    for ref in refs:
        params = {**id_params(ref, "model_id", model_id), "days": days}
        rows = await db.execute(recent_statement(ref), params)
        for team_id, n in rows:
            if team_id is not None and n:
                out.setdefault(str(team_id), {})[ref.label] = int(n)
    return out
