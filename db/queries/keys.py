"""The SQL types of a host's keys, read from the database.

Most statements compare a bound id straight with a column, and PostgreSQL types the
parameter from it. An ``unnest`` of several arrays has no column to learn from, so its id
array is cast to the type read here (one of :data:`KEY_TYPES`, never free text).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.platform.host import Platform

KEY_TYPES = ("uuid", "bigint", "integer")


async def key_type(db: AsyncSession | AsyncConnection, relation: str, column: str) -> str:
    """The type of ``relation.column`` (``relation`` as ``to_regclass`` reads it)."""
    found = await db.scalar(
        text(
            "SELECT format_type(a.atttypid, NULL) FROM pg_attribute a "
            "WHERE a.attrelid = to_regclass(:relation) AND a.attname = :column "
            "AND NOT a.attisdropped"
        ),
        {"relation": relation, "column": column},
    )
    if found not in KEY_TYPES:
        raise RuntimeError(
            f"{relation}.{column} is of type {found!r}, not a key type the worker handles "
            f"({', '.join(KEY_TYPES)}); see `lifecycle platform check`"
        )
    return str(found)


async def model_key_type(db: AsyncSession | AsyncConnection) -> str:
    """The type of model ids (the ``models`` view's ``id``)."""
    return await key_type(db, "models", "id")


async def team_key_type(db: AsyncSession | AsyncConnection, platform: Platform) -> str:
    """The type of team ids (the mapped teams table's key)."""
    teams = platform.mapping.teams
    return await key_type(db, platform.qualified(teams.table), teams.id)


async def user_key_type(db: AsyncSession | AsyncConnection) -> str:
    """The type of user ids (the worker's ``notifications.user_id``, built with the type
    the platform check read from the recipients query)."""
    return await key_type(db, "notifications", "user_id")
