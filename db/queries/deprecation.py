"""SQL of the deprecation enrichment: one read, one update, set-based usage and events."""

from __future__ import annotations

import functools
import json
import uuid
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId, id_text
from db.queries.keys import model_key_type
from db.queries.reference_sql import all_of, ids_in_sql, live_row_sql, team_sql
from db.reference import Reference, check_identifiers


class EnrichmentRow(NamedTuple):
    """A model the enrichment looks up (a tuple: thousands are built per run)."""

    id: HostId
    provider: str
    name: str
    team_id: HostId | None
    litellm_model: str | None
    deprecated: bool
    deprecation_date: date | None
    replacement_model_id: HostId | None = None


# tuple.__new__ straight from C: a NamedTuple's own constructor is Python code.
_make_row = functools.partial(tuple.__new__, EnrichmentRow)

_IN_SERVICE = (
    "SELECT id, provider, name, team_id, litellm_model, deprecated, deprecation_date, "
    "replacement_model_id FROM models WHERE deleted_at IS NULL AND migrated_to_model_id IS NULL"
)


async def enrichment_rows(session: AsyncSession) -> list[EnrichmentRow]:
    """Every model still in service (not soft-deleted, not migrated away), in one query.

    The daily run reads every model, so this goes straight to the driver inside the
    session's transaction: SQLAlchemy's row processing would cost more than the query.
    """
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None, "the session's connection is closed"
    records = await driver.fetch(_IN_SERVICE)
    return list(map(_make_row, records))


async def replacement_names(
    session: AsyncSession, model_ids: list[HostId]
) -> dict[HostId, tuple[str, str]]:
    """``{model_id: (provider, name)}`` of the replacement of each model that has one."""
    if not model_ids:
        return {}
    rows = await session.execute(
        text(
            "SELECT m.id, r.provider, r.name FROM models m "
            "JOIN models r ON r.id = m.replacement_model_id "
            "WHERE m.id = ANY(:ids)"
        ),
        {"ids": model_ids},
    )
    return {model_id: (provider, name) for model_id, provider, name in rows}


async def apply_deprecation_dates(
    session: AsyncSession, dates: dict[HostId, date], deprecate: set[HostId]
) -> None:
    """Store each model's date; flag those in ``deprecate`` (source ``litellm`` unless
    already deprecated by someone else). One statement for every model."""
    if not dates:
        return
    ids = list(dates)
    key = await model_key_type(session)
    await session.execute(
        text(
            "UPDATE models AS m SET deprecation_date = v.d, "
            "deprecated = m.deprecated OR v.dep, "
            "deprecation_source = CASE WHEN v.dep AND NOT m.deprecated THEN 'litellm' "
            "ELSE m.deprecation_source END, updated_at = now() "
            f"FROM unnest(CAST(:ids AS {key}[]), CAST(:dates AS date[]), "
            "CAST(:dep AS boolean[])) AS v(id, d, dep) WHERE m.id = v.id"
        ),
        {"ids": ids, "dates": [dates[i] for i in ids], "dep": [i in deprecate for i in ids]},
    )


def usage_of_models_statement(ref: Reference) -> TextClause:
    """Live rows of ``ref`` per (model id's canonical text, team) for the ids in ``:ids``
    (their canonical texts in ``:id_texts``)."""
    join, team = team_sql(ref)
    elements, model, where = ids_in_sql(ref)
    source = f"{ref.table} t{join}{elements}"
    return text(
        f"SELECT {model} AS model_id, {team} AS team_id, count(DISTINCT t.{ref.key_column}) "
        f"FROM {source} WHERE {all_of(where, live_row_sql(ref))} GROUP BY 1, 2"
    )


async def usage_of_models(
    session: AsyncSession, model_ids: list[HostId], references: tuple[Reference, ...]
) -> dict[HostId, dict[str, dict[str, int]]]:
    """``{model_id: {team_id: {label: rows}}}`` for many models: one statement per
    live reference instead of one per model and reference (teamless rows left out)."""
    out: dict[HostId, dict[str, dict[str, int]]] = {m: {} for m in model_ids}
    if not model_ids:
        return out
    check_identifiers(references)
    by_text = {id_text(m): m for m in model_ids}
    params = {"ids": model_ids, "id_texts": list(by_text)}
    for ref in references:
        rows = await session.execute(usage_of_models_statement(ref), params)
        for model_text, team_id, n in rows:
            model_id = by_text.get(model_text)
            if team_id is not None and model_id is not None:
                teams = out[model_id].setdefault(str(team_id), {})
                teams[ref.label] = teams.get(ref.label, 0) + int(n)
    return out


_EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("slug", "text"),
    ("dedup_key", "text"),
    ("model_id", "{key}"),
    ("model_provider", "text"),
    ("model_name", "text"),
    ("replacement_provider", "text"),
    ("replacement_model_name", "text"),
    ("deprecation_date", "date"),
    ("suggested_provider", "text"),
    ("suggested_model_name", "text"),
    ("payload", "text"),
)


async def insert_events(session: AsyncSession, events: list[dict[str, Any]]) -> list[uuid.UUID]:
    """Add outbox events in one statement; those whose ``dedup_key`` exists are skipped.

    One array per column (``unnest``) keeps the statement the same size however many
    events there are, so it is compiled and planned once and never nears the limit on
    bound parameters.
    """
    if not events:
        return []
    names = [n for n, _ in _EVENT_COLUMNS]
    key = await model_key_type(session)
    arrays = ", ".join(f"CAST(:{n} AS {t.format(key=key)}[])" for n, t in _EVENT_COLUMNS)
    values = ", ".join("CAST(v.payload AS jsonb)" if n == "payload" else f"v.{n}" for n in names)
    stmt = text(
        f"INSERT INTO lifecycle_events ({', '.join(names)}) "
        f"SELECT {values} FROM unnest({arrays}) AS v({', '.join(names)}) "
        "ON CONFLICT (dedup_key) DO NOTHING RETURNING id"
    )
    params: dict[str, list[Any]] = {n: [e.get(n) for e in events] for n in names}
    params["payload"] = [json.dumps(e.get("payload") or {}) for e in events]
    return list((await session.execute(stmt, params)).scalars())


async def existing_dedup_keys(session: AsyncSession, keys: list[str]) -> set[str]:
    """Which of ``keys`` the outbox already holds."""
    if not keys:
        return set()
    rows = await session.execute(
        text("SELECT dedup_key FROM lifecycle_events WHERE dedup_key = ANY(CAST(:keys AS text[]))"),
        {"keys": keys},
    )
    return set(rows.scalars())


async def record_finished_run(
    session: AsyncSession,
    job: str,
    *,
    job_id: str | None,
    trigger: str,
    started_at: datetime,
    summary: dict[str, Any],
) -> uuid.UUID:
    """Write a succeeded run with its report in one statement (the run is one transaction)."""
    run_id = await session.scalar(
        text(
            "INSERT INTO lifecycle_runs (job, job_id, trigger, status, dry_run, started_at, "
            "finished_at, summary) VALUES (:job, :job_id, :trigger, 'succeeded', false, "
            ":started_at, now(), CAST(:summary AS jsonb)) RETURNING id"
        ),
        {
            "job": job,
            "job_id": job_id,
            "trigger": trigger,
            "started_at": started_at,
            "summary": json.dumps(summary),
        },
    )
    assert isinstance(run_id, uuid.UUID)
    return run_id
