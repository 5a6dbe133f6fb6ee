"""SQL of the catalog sync: global models, bulk writes, and the deletion trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId
from db.models import LlmModel
from db.platform.mapping import Joined, PlatformMapping
from db.platform.model_view import COLUMNS, FIELDS, q, source_of
from db.queries.keys import model_key_type
from db.reference import constant_sql

# One key for every writer of the deprecation columns (catalog sync and enrichment), so
# two runs never interleave their read-compute-write cycles.
_CATALOG_LOCK = 7_294_101

MANAGED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("display_name", "text"),
    ("litellm_model", "text"),
    ("token_limit", "integer"),
    ("supports_vision", "boolean"),
    ("supports_tools", "boolean"),
    ("supports_reasoning", "boolean"),
    ("security_level", "integer"),
    ("deprecated", "boolean"),
    ("deprecation_source", "text"),
    ("replacement_model_id", "{key}"),
)


async def lock_model_catalog(session: AsyncSession) -> None:
    """Serialise writers of model metadata until the transaction ends."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CATALOG_LOCK})


async def global_models(session: AsyncSession) -> list[LlmModel]:
    """Every global model row (live and soft-deleted), oldest first."""
    stmt = select(LlmModel).where(LlmModel.team_id.is_(None)).order_by(LlmModel.created_at)
    return list((await session.execute(stmt)).scalars())


# Rows per multi-row INSERT: a statement binds one parameter per column and row, and the
# driver allows 32,767 parameters at most.
INSERT_CHUNK = 1_000


async def insert_models(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> dict[tuple[str, str], HostId]:
    """Insert global models, one statement per chunk of rows; ``(provider, name)`` → new id."""
    ids: dict[tuple[str, str], HostId] = {}
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start : start + INSERT_CHUNK]
        result = await session.execute(
            insert(LlmModel).values(chunk).returning(LlmModel.id, LlmModel.provider, LlmModel.name)
        )
        ids.update({(provider, name): model_id for model_id, provider, name in result})
    return ids


async def update_models(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Set every managed column of the given models in one statement (rows carry ``id``)."""
    if not rows:
        return 0
    key = await model_key_type(session)
    names = ["id", *(c for c, _ in MANAGED_COLUMNS)]
    types = [key, *(t.format(key=key) for _, t in MANAGED_COLUMNS)]
    arrays = ", ".join(f"CAST(:{n} AS {t}[])" for n, t in zip(names, types, strict=True))
    sets = ", ".join(f"{c} = v.{c}" for c, _ in MANAGED_COLUMNS)
    stmt = text(
        f"UPDATE models AS m SET {sets}, updated_at = now() "
        f"FROM unnest({arrays}) AS v({', '.join(names)}) WHERE m.id = v.id"
    )
    params = {n: [row[n] for row in rows] for n in names}
    result = await session.execute(stmt, params)
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class DeletionTrail:
    """What the database says about one ``[[deleted]]`` entry."""

    provider: str
    name: str
    first_deleted_at: datetime | None
    still_present: bool


async def deletion_trail(session: AsyncSession, keys: list[tuple[str, str]]) -> list[DeletionTrail]:
    """For each global ``(provider, name)``: the earliest ``model.deleted`` audit event
    and whether any global row of that name remains (live or soft-deleted)."""
    if not keys:
        return []
    stmt = text(
        "SELECT k.provider, k.name, "
        "  (SELECT min(a.created_at) FROM audit_events a "
        "    WHERE a.action = 'model.deleted' "
        "      AND a.details->>'provider' = k.provider AND a.details->>'name' = k.name "
        "      AND (a.details->>'team_id') IS NULL) AS first_deleted_at, "
        "  EXISTS (SELECT 1 FROM models m WHERE m.provider = k.provider "
        "    AND m.name = k.name AND m.team_id IS NULL) AS still_present "
        "FROM unnest(CAST(:providers AS text[]), CAST(:names AS text[])) "
        "  WITH ORDINALITY AS k(provider, name, n) ORDER BY k.n"
    )
    rows = await session.execute(
        stmt, {"providers": [p for p, _ in keys], "names": [n for _, n in keys]}
    )
    return [DeletionTrail(p, n, first, bool(present)) for p, n, first, present in rows]


async def unresolved_joined_values(
    session: AsyncSession, mapping: PlatformMapping, written: dict[str, set[Any]]
) -> list[str]:
    """Values about to be written to a joined model column (``{view column: values}``)
    that name no row of the joined table, or several, within its filter: the ``models``
    view refuses them, so the sync refuses them first, in its dry run too."""
    types = dict(COLUMNS)
    problems = []
    for column, values in written.items():
        source = source_of(mapping, column)
        values = {v for v in values if v is not None}
        if not isinstance(source, Joined) or not values:
            continue
        table = f"{q(mapping.host_schema)}.{q(source.table)}"
        narrowed = "".join(
            f" AND j.{q(name)} = {constant_sql(value)}" for name, value in source.filter.items()
        )
        stmt = text(
            f"SELECT v.value, count(j.{q(source.key)}) AS n "
            f"FROM unnest(CAST(:values AS {types[column]}[])) AS v(value) "
            f"LEFT JOIN {table} j ON j.{q(source.column)} = v.value{narrowed} "
            f"GROUP BY v.value HAVING count(j.{q(source.key)}) <> 1 ORDER BY v.value"
        )
        within = " within its filter" if source.filter else ""
        field = FIELDS[column]
        for value, n in await session.execute(stmt, {"values": sorted(values)}):
            if n == 0:
                problems.append(
                    f"{field} {value!r}: no row of {source.table} has "
                    f"{source.column} = {value!r}{within}"
                )
            else:
                problems.append(
                    f"{field} {value!r}: {n} rows of {source.table} have "
                    f"{source.column} = {value!r}{within}, and a model names one: give "
                    f"[models] {field} a filter that leaves one (`lifecycle platform check`)"
                )
    return problems
