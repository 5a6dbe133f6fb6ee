"""The ``enrich_deprecations`` job: deprecation dates from litellm's cost map.

One map load, one read of every model, dictionary look-ups in Python, then one
``UPDATE`` for all changed models and set-based usage counts for the events.
Deprecation is sticky: a model whose entry left the map keeps its stored date and flag.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from db.queries.audit import finish_run
from db.queries.catalog import lock_model_catalog
from db.queries.deprecation import (
    EnrichmentRow,
    apply_deprecation_dates,
    enrichment_rows,
    existing_dedup_keys,
    insert_events,
    usage_of_models,
)
from jobs.cost_map import CostMap, CostMapError, load_cost_map, match_model, parse_iso_date
from jobs.errors import PermanentJobError
from jobs.events import Slug, deprecated_key, publish_events, retiring_key
from jobs.run_log import as_json, close_run, open_run, utc_today
from jobs.runtime import Runtime
from jobs.spec import CronSpec, JobSpec, Payload
from worker.settings import Settings

JOB = "enrich_deprecations"


class EnrichPayload(Payload):
    dry_run: bool = False
    trigger: Literal["cron", "manual"] = "manual"


class CostMapUnavailable(PermanentJobError):
    """Neither the configured nor the bundled cost map could be read."""

    code = "cost_map_unavailable"


@dataclass
class Enrichment:
    """What one run changes, and its report."""

    dates: dict[uuid.UUID, date] = field(default_factory=dict)
    deprecate: set[uuid.UUID] = field(default_factory=set)
    deprecated_events: list[tuple[EnrichmentRow, date]] = field(default_factory=list)
    retiring_events: list[tuple[EnrichmentRow, date]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


def _name(row: EnrichmentRow) -> dict[str, Any]:
    named: dict[str, Any] = {"model": f"{row.provider}:{row.name}", "id": row.id}
    if row.team_id is not None:
        named["team_id"] = row.team_id
    return named


def compute_enrichment(
    rows: list[EnrichmentRow], entries: dict[str, Any], today: date, window_days: int
) -> Enrichment:
    """Match every model and decide its new date, flag and events (pure)."""
    out = Enrichment()
    horizon = today + timedelta(days=window_days)
    matched = unchanged = 0
    unmatched: list[dict[str, Any]] = []
    newly: list[dict[str, Any]] = []
    retiring: list[dict[str, Any]] = []
    dates_set: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    for row in rows:
        found = match_model(entries, row.provider, row.name, row.litellm_model)
        if found.entry is None:
            unmatched.append(
                {**_name(row), "reason": found.reason, "stored_date": row.deprecation_date}
            )
            continue
        matched += 1
        raw = found.entry.get("deprecation_date")
        if raw is None:
            unchanged += 1
            continue
        when = parse_iso_date(raw)
        if when is None:
            invalid.append({**_name(row), "key": found.key, "value": raw})
            continue
        changed = False
        if when != row.deprecation_date:
            out.dates[row.id] = when
            dates_set.append({**_name(row), "from": row.deprecation_date, "to": when})
            changed = True
        if when <= today and not row.deprecated:
            out.dates[row.id] = when
            out.deprecate.add(row.id)
            out.deprecated_events.append((row, when))
            newly.append({**_name(row), "date": when, "key": found.key})
            changed = True
        elif today < when <= horizon:
            out.retiring_events.append((row, when))
            retiring.append({**_name(row), "date": when, "days_left": (when - today).days})
            changed = True
        if not changed:
            unchanged += 1
    out.report = {
        "matched": matched,
        "unmatched": unmatched,
        "newly_deprecated": newly,
        "retiring": retiring,
        "dates_set": dates_set,
        "invalid_dates": invalid,
        "unchanged": unchanged,
    }
    return out


def _event(slug: Slug, key: str, row: EnrichmentRow, when: date) -> dict[str, Any]:
    return {
        "slug": slug.value,
        "dedup_key": key,
        "model_id": row.id,
        "model_provider": row.provider,
        "model_name": row.name,
        "replacement_provider": row.replacement_provider,
        "replacement_model_name": row.replacement_name,
        "deprecation_date": when,
    }


async def emit_enrichment_events(session: AsyncSession, result: Enrichment) -> list[uuid.UUID]:
    """Write the deprecated/retiring events not yet in the outbox, with usage per team.

    Keys are shared with every other writer (``deprecated_key`` is the catalog's too),
    so a model is announced as deprecated once, whoever noticed first.
    """
    wanted = [
        _event(Slug.DEPRECATED, deprecated_key(row.id), row, when)
        for row, when in result.deprecated_events
    ] + [
        _event(Slug.RETIRING, retiring_key(row.id, when), row, when)
        for row, when in result.retiring_events
    ]
    if not wanted:
        return []
    present = await existing_dedup_keys(session, [e["dedup_key"] for e in wanted])
    missing = [e for e in wanted if e["dedup_key"] not in present]
    usage = await usage_of_models(session, list({e["model_id"] for e in missing}))
    for event in missing:
        event["payload"] = usage[event["model_id"]]
    return await insert_events(session, missing)


async def read_cost_map(settings: Settings) -> CostMap:
    """Load the map off the event loop; a missing map is a permanent failure."""
    try:
        return await asyncio.to_thread(load_cost_map, settings.cost_map_source)
    except CostMapError as exc:
        raise CostMapUnavailable(str(exc)) from exc


async def enrich_deprecations(
    runtime: Runtime,
    payload: EnrichPayload,
    *,
    today: date | None = None,
    cost_map: CostMap | None = None,
) -> dict[str, Any]:
    """Apply litellm's deprecation dates; a dry run only reports what would change."""
    today = today or utc_today()
    window = runtime.settings.retiring_window_days
    if payload.dry_run:
        cmap = cost_map or await read_cost_map(runtime.settings)
        async with runtime.sessions() as session:
            rows = await enrichment_rows(session)
        result = compute_enrichment(rows, cmap.entries, today, window)
        return {"dry_run": True, "source": cmap.describe(), **result.report}

    run_id = await open_run(runtime, JOB, payload.trigger)
    try:
        cmap = cost_map or await read_cost_map(runtime.settings)
        async with runtime.sessions() as session, session.begin():
            await lock_model_catalog(session)
            rows = await enrichment_rows(session)
            result = compute_enrichment(rows, cmap.entries, today, window)
            await apply_deprecation_dates(session, result.dates, result.deprecate)
            event_ids = await emit_enrichment_events(session, result)
            summary = {"source": cmap.describe(), **result.report, "events": len(event_ids)}
            await finish_run(session, run_id, status="succeeded", summary=as_json(summary))
    except Exception as exc:
        await close_run(runtime, run_id, "failed", {"error": f"{type(exc).__name__}: {exc}"})
        raise
    await publish_events(runtime, event_ids)
    return {"dry_run": False, "run_id": run_id, **summary}


def _daily(settings: Settings) -> dict[str, Any]:
    at = settings.enrich_cron_time
    return {"hour": at.hour, "minute": at.minute, "second": at.second}


JOBS = (JobSpec(JOB, EnrichPayload, enrich_deprecations),)
CRONS = (CronSpec(JOB, _daily, {"dry_run": False, "trigger": "cron"}),)
