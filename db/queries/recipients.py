"""Who is told about a team's lifecycle events: the platform mapping's recipients query.

Every notification, email and webhook ``recipients`` list is built from
:meth:`Platform.recipients_sql`: the ``[recipients]`` query of the platform mapping (for the
reference platform, ``db/platform/reference.toml``), written by the operator and run with
``:team_ids`` and ``:permission`` bound, never interpolated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId
from db.platform.host import Platform


@dataclass(frozen=True)
class Recipient:
    """A member who receives a team's notifications."""

    team_id: HostId
    user_id: HostId
    email: str


async def team_recipients(
    session: AsyncSession, platform: Platform, team_ids: Sequence[HostId], permission: str
) -> dict[HostId, list[Recipient]]:
    """``{team_id: [recipient, …]}`` (by email) for the teams that have any."""
    if not team_ids:
        return {}
    rows = await session.execute(
        text(f"SELECT * FROM ({platform.recipients_sql()}) AS r ORDER BY r.team_id, r.email"),
        {"team_ids": list(team_ids), "permission": permission},
    )
    out: dict[HostId, list[Recipient]] = {}
    for team_id, user_id, email in rows:
        out.setdefault(team_id, []).append(Recipient(team_id, user_id, email))
    return out
