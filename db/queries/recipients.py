"""Who is told about a team's lifecycle events: the one recipients query.

Every notification, email and webhook ``recipients`` list is built from
:func:`recipients_sql`, so an operator's own query (who manages models, where their mail
goes) replaces it in one place.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_RECIPIENTS = """
    SELECT m.team_id, m.user_id, u.email
    FROM team_members m
    JOIN users u ON u.id = m.user_id
    WHERE m.team_id = ANY(CAST(:team_ids AS uuid[]))
      AND m.permissions @> ARRAY[CAST(:permission AS text)]
"""


def recipients_sql() -> str:
    """``SELECT team_id, user_id, email`` of the members of ``:team_ids`` who hold
    ``:permission``: a sub-query other statements embed (``WITH recipients AS (…)``)."""
    return _RECIPIENTS


@dataclass(frozen=True)
class Recipient:
    """A member who receives a team's notifications."""

    team_id: uuid.UUID
    user_id: uuid.UUID
    email: str


async def team_recipients(
    session: AsyncSession, team_ids: Sequence[uuid.UUID], permission: str
) -> dict[uuid.UUID, list[Recipient]]:
    """``{team_id: [recipient, …]}`` (by email) for the teams that have any."""
    if not team_ids:
        return {}
    rows = await session.execute(
        text(f"{_RECIPIENTS} ORDER BY m.team_id, u.email"),
        {"team_ids": list(team_ids), "permission": permission},
    )
    out: dict[uuid.UUID, list[Recipient]] = {}
    for team_id, user_id, email in rows:
        out.setdefault(team_id, []).append(Recipient(team_id, user_id, email))
    return out
