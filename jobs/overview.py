"""Every model with its lifecycle state and its live use: ``lifecycle models``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from db.keys import HostId
from db.queries.overview import STATES, ModelRow, find_team, models_with_use
from jobs.runtime import Runtime

__all__ = ["STATES", "TeamFilter", "model_overview", "resolve_team"]


@dataclass(frozen=True)
class TeamFilter:
    """``--team T`` resolved: its id and slug."""

    id: HostId
    slug: str | None


def _entry(row: ModelRow, today: date, team: TeamFilter | None) -> dict[str, Any]:
    live = row.live if team is None else row.live_by_team.get(str(team.id), {})
    when = row.deprecation_date
    return {
        "id": row.id,
        "model": f"{row.provider}:{row.name}",
        "team_id": row.team_id,
        "team": row.team_slug or (None if row.team_id is None else str(row.team_id)),
        "state": row.state,
        "deprecation_date": when,
        "days_left": None if when is None else (when - today).days,
        "replacement": row.migrated_to or row.replacement,
        "suggested": row.suggested,
        "live": dict(sorted(live.items())),
        "live_total": sum(live.values()),
        "live_teams": len(row.live_by_team) if team is None else int(bool(live)),
        "recent_use": row.recent_use,
    }


async def resolve_team(runtime: Runtime, value: str) -> TeamFilter | None:
    """The team named by ``value`` (its id or its slug), if there is one."""
    async with runtime.sessions() as session:
        found = await find_team(session, runtime.platform, value)
    return None if found is None else TeamFilter(*found)


async def model_overview(
    runtime: Runtime, today: date, *, retiring: bool = False, team: TeamFilter | None = None
) -> list[dict[str, Any]]:
    """Every model with its state, date, replacement and live use.

    ``retiring``: only models with a deprecation date and live references, soonest date
    first (dates already passed come first). ``team``: the models that team refers to
    live, and its custom models, with that team's counts.
    """
    async with runtime.sessions() as session:
        rows = await models_with_use(session, runtime.platform)
    entries = [_entry(r, today, team) for r in rows]
    if team is not None:
        entries = [e for e in entries if e["live_total"] or e["team_id"] == team.id]
    if retiring:
        entries = [e for e in entries if e["deprecation_date"] is not None and e["live_total"]]
        entries.sort(key=lambda e: e["deprecation_date"])
    return entries
