"""Reading every model at once, with its live use: what ``lifecycle models`` and the
metrics show.

Statements are built from a platform's validated references (``check_identifiers``) with
the pieces in :mod:`db.queries.reference_sql`; model ids are bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.keys import HostId, id_text
from db.platform.host import Platform
from db.queries.deprecation import usage_of_models_statement
from db.queries.reference_sql import all_of, ids_in_sql
from db.reference import Reference, check_identifiers

Executor = AsyncSession | AsyncConnection

# History produced on a model within this many days counts as recent use.
RECENT_DAYS = 30


# Lifecycle states, in the order they are tested: a model is in the first that applies.
STATES = ("soft-deleted", "migrated", "deprecated", "retiring", "active")


def state_sql(alias: str) -> str:
    """The state (one of ``STATES``) of the model row ``alias`` of the ``models`` view."""
    return (
        f"CASE WHEN {alias}.deleted_at IS NOT NULL THEN 'soft-deleted' "
        f"WHEN {alias}.migrated_to_model_id IS NOT NULL THEN 'migrated' "
        f"WHEN {alias}.deprecated THEN 'deprecated' "
        f"WHEN {alias}.deprecation_date IS NOT NULL THEN 'retiring' ELSE 'active' END"
    )


@dataclass
class ModelRow:
    """One model as the overview shows it, before its use is counted."""

    id: HostId
    provider: str
    name: str
    team_id: HostId | None
    team_slug: str | None
    state: str
    deprecation_date: date | None
    migrated_to: str | None
    replacement: str | None
    suggested: str | None
    live: dict[str, int] = field(default_factory=dict)
    live_by_team: dict[str, dict[str, int]] = field(default_factory=dict)
    recent_use: int = 0


def _models_sql(platform: Platform) -> str:
    return (
        "SELECT m.id, m.provider, m.name, m.team_id, t.slug AS team_slug, "
        f"{state_sql('m')} AS state, m.deprecation_date, "
        "mt.provider || ':' || mt.name AS migrated_to, "
        "r.provider || ':' || r.name AS replacement, s.suggested "
        "FROM models m "
        f"LEFT JOIN ({platform.teams_sql()}) t ON t.id = m.team_id "
        "LEFT JOIN models mt ON mt.id = m.migrated_to_model_id "
        "LEFT JOIN models r ON r.id = m.replacement_model_id "
        # The successor litellm's cost map suggested last (shown, never acted on).
        "LEFT JOIN (SELECT DISTINCT ON (e.model_id) e.model_id, "
        "e.suggested_provider || ':' || e.suggested_model_name AS suggested "
        "FROM lifecycle_events e WHERE e.suggested_model_name IS NOT NULL "
        "ORDER BY e.model_id, e.created_at DESC) s ON s.model_id = m.id "
        "ORDER BY m.provider, m.name, CAST(m.id AS text)"
    )


def recent_use_statement(ref: Reference) -> TextClause:
    """History rows of ``ref`` from the last ``:days`` days per model (its id's canonical
    text) for the ids in ``:ids`` (their canonical texts in ``:id_texts``)."""
    elements, model, where = ids_in_sql(ref)
    source = f"{ref.table} t{elements}"
    recent = f"t.{ref.time_column} >= now() - make_interval(days => :days)"
    return text(
        f"SELECT {model} AS model_id, count(*) FROM {source} "
        f"WHERE {all_of(where, recent)} GROUP BY 1"
    )


async def models_with_use(db: Executor, platform: Platform) -> list[ModelRow]:
    """Every model (soft-deleted included) with its live references, per label and per
    team, and its history rows of the last ``RECENT_DAYS`` days."""
    rows = [ModelRow(**r._mapping) for r in await db.execute(text(_models_sql(platform)))]
    if not rows:
        return rows
    check_identifiers(platform.references)
    by_text = {id_text(r.id): r for r in rows}
    params = {"ids": [r.id for r in rows], "id_texts": list(by_text), "days": RECENT_DAYS}
    for ref in platform.live():
        for model_text, team_id, n in await db.execute(usage_of_models_statement(ref), params):
            row = by_text.get(model_text)
            if row is None:
                continue
            row.live[ref.label] = row.live.get(ref.label, 0) + int(n)
            if team_id is not None:
                team = row.live_by_team.setdefault(str(team_id), {})
                team[ref.label] = team.get(ref.label, 0) + int(n)
    for ref in platform.history():
        if not ref.time_column:
            continue
        for model_text, n in await db.execute(recent_use_statement(ref), params):
            row = by_text.get(model_text)
            if row is not None:
                row.recent_use += int(n)
    return rows


async def find_team(
    db: Executor, platform: Platform, value: str
) -> tuple[HostId, str | None] | None:
    """The team named by ``value``, its id or its slug: ``(id, slug)``."""
    found = (
        await db.execute(
            text(
                f"SELECT t.id, t.slug FROM ({platform.teams_sql()}) t "
                "WHERE CAST(t.id AS text) = lower(:value) OR t.slug = :value "
                "ORDER BY t.slug = :value LIMIT 1"
            ),
            {"value": value},
        )
    ).first()
    return None if found is None else (found[0], found[1])
