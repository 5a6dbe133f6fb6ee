"""What the worker's ``/metrics`` reads from PostgreSQL at each scrape.

Every statement reads the worker's own tables or the ``models`` view; live references are
probed with index-backed ``EXISTS`` only for models that have a deprecation date.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.keys import HostId
from db.models.lifecycle import ACTIVE_MIGRATION_STATUSES
from db.platform.host import Platform
from db.queries.overview import state_sql
from db.queries.references import referencing_labels


@dataclass(frozen=True)
class Backlog:
    """Pending deliveries of a channel and the age of the oldest one."""

    channel: str
    pending: int
    oldest_seconds: float


@dataclass(frozen=True)
class Retiring:
    """A model with a deprecation date that live configuration still uses."""

    id: HostId
    model: str
    days_left: int


@dataclass(frozen=True)
class RequestProgress:
    """An active migration or deletion: rows done and planned so far."""

    request_key: str
    kind: str
    done: int
    planned: int


async def models_by_state(conn: AsyncConnection) -> dict[str, int]:
    """``{state: models}``."""
    rows = await conn.execute(text(f"SELECT {state_sql('m')}, count(*) FROM models m GROUP BY 1"))
    return {state: int(n) for state, n in rows}


async def deliveries_by_status(conn: AsyncConnection) -> dict[tuple[str, str], int]:
    """``{(channel, status): deliveries}`` of every delivery row."""
    rows = await conn.execute(
        text("SELECT channel, status, count(*) FROM deliveries GROUP BY 1, 2")
    )
    return {(channel, status): int(n) for channel, status, n in rows}


async def outbox_backlog(conn: AsyncConnection) -> list[Backlog]:
    """Per channel with pending rows: how many, and how long the oldest has waited."""
    rows = await conn.execute(
        text(
            "SELECT channel, count(*), "
            "EXTRACT(EPOCH FROM now() - min(created_at)) "
            "FROM deliveries WHERE status = 'pending' GROUP BY 1"
        )
    )
    return [Backlog(channel, int(n), float(age)) for channel, n, age in rows]


async def retiring_in_use(conn: AsyncConnection, platform: Platform) -> list[Retiring]:
    """Models not yet retired that have a deprecation date and live references."""
    rows = await conn.execute(
        text(
            "SELECT id, provider || ':' || name, deprecation_date - current_date FROM models "
            "WHERE deprecation_date IS NOT NULL AND deleted_at IS NULL "
            "AND migrated_to_model_id IS NULL ORDER BY deprecation_date"
        )
    )
    found = []
    for model_id, name, days in rows.all():
        if await referencing_labels(conn, model_id, platform.live()):
            found.append(Retiring(model_id, name, int(days)))
    return found


async def active_requests(conn: AsyncConnection) -> list[RequestProgress]:
    """Requests not finished, with the rows they changed and planned per label summed."""
    rows = await conn.execute(
        text(
            "SELECT m.request_key, m.kind, "
            "COALESCE(sum(p.done), 0), COALESCE(sum(p.planned), 0) "
            "FROM model_migrations m "
            "LEFT JOIN model_migration_progress p ON p.migration_id = m.id "
            "WHERE m.status = ANY(:active) GROUP BY m.id"
        ),
        {"active": list(ACTIVE_MIGRATION_STATUSES)},
    )
    return [
        RequestProgress(key, kind, int(done), int(planned)) for key, kind, done, planned in rows
    ]
