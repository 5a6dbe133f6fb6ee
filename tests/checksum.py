"""A fingerprint of every table, to prove a refused request changed nothing."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import Base


async def table_checksums(engine: AsyncEngine, *, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """``{table: md5 of all its rows}`` for every table in the schema."""
    sums: dict[str, str] = {}
    async with engine.connect() as conn:
        for table in sorted(Base.metadata.tables.values(), key=lambda t: t.name):
            if table.name in exclude:
                continue
            digest = await conn.scalar(
                text(
                    "SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
                    f"FROM {table.fullname} t"
                )
            )
            sums[table.name] = str(digest)
    return sums
