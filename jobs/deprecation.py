"""The ``enrich_deprecations`` job: deprecation dates from litellm's cost map.

One map load, one read of every model, dictionary look-ups in Python, then one
``UPDATE`` for all changed models and set-based usage counts for the events.
Deprecation is sticky: a model whose entry left the map keeps its stored date and flag.
"""

from __future__ import annotations

import asyncio
import operator
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId, parse_host_id
from db.queries.catalog import lock_model_catalog
from db.queries.deprecation import (
    EnrichmentRow,
    apply_deprecation_dates,
    enrichment_rows,
    existing_dedup_keys,
    insert_events,
    record_finished_run,
    replacement_names,
    usage_of_models,
)
from db.reference import Reference
from jobs.config import JobConfig
from jobs.cost_map import (
    NO_ENTRY,
    CostMap,
    CostMapError,
    load_cost_map,
    match_model,
    parse_iso_date,
)
from jobs.errors import PermanentJobError
from jobs.events import Slug, deprecated_key, publish_events, retiring_key
from jobs.reminders import DEFAULT_MILESTONES, due_milestone
from jobs.run_log import record_unsuccessful_run, utc_today
from jobs.runtime import Runtime
from jobs.spec import CronSpec, JobSpec, Payload
from jobs.successors import Candidate, SuccessorIndex, suggest_successor

JOB = "enrich_deprecations"
_BY_MODEL = operator.itemgetter("model")


class EnrichPayload(Payload):
    dry_run: bool = False
    trigger: Literal["cron", "manual"] = "manual"


class CostMapUnavailable(PermanentJobError):
    """Neither the configured nor the bundled cost map could be read."""

    code = "cost_map_unavailable"


@dataclass
class Enrichment:
    """What one run changes, and its report."""

    dates: dict[HostId, date] = field(default_factory=dict)
    deprecate: set[HostId] = field(default_factory=set)
    deprecated_events: list[tuple[EnrichmentRow, date]] = field(default_factory=list)
    # (model, date, milestone): the reminder due today, if any (jobs.reminders).
    retiring_events: list[tuple[EnrichmentRow, date, int]] = field(default_factory=list)
    # Suggested successors (provider, name) of announced models with no replacement.
    suggestions: dict[HostId, tuple[str, str]] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)


def _label(row: EnrichmentRow) -> str:
    """``provider:name``, with the team for a team's custom model."""
    if row.team_id is None:
        return f"{row.provider}:{row.name}"
    return f"{row.provider}:{row.name} (team {row.team_id})"


def _name(row: EnrichmentRow) -> dict[str, Any]:
    return {"model": _label(row), "id": str(row.id)}


def _iso(when: date | None) -> str | None:
    return None if when is None else when.isoformat()


def compute_enrichment(
    rows: list[EnrichmentRow],
    entries: dict[str, Any],
    today: date,
    window_days: int,
    milestones: tuple[int, ...] = DEFAULT_MILESTONES,
) -> Enrichment:
    """Match every model and decide its new date, flag, events and suggestions (pure).

    ``retiring`` lists models whose date is within ``window_days``; a retiring event is
    written for the reminder milestone due today (see ``jobs.reminders``).

    The report is JSON-ready (ids and dates as strings): it is stored as the run summary.
    ``unmatched`` lists names only (it can be long and is stored with every run);
    ``other_provider`` names models whose name exists only at other providers, and
    ``kept`` the unmatched models that keep a stored date (deprecation is sticky).
    """
    out = Enrichment()
    horizon = today + timedelta(days=window_days)
    matched = unchanged = 0
    unmatched: list[str] = []
    other_provider: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    newly: list[dict[str, Any]] = []
    retiring: list[dict[str, Any]] = []
    dates_set: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    reminders: list[dict[str, Any]] = []
    matched_keys: dict[HostId, str] = {}
    for row in rows:
        found = match_model(entries, row.provider, row.name, row.litellm_model)
        entry = found.entry
        if found.key is not None:
            matched_keys[row.id] = found.key
        if entry is None:
            unmatched.append(_label(row))
            if found is not NO_ENTRY:
                other_provider.append({"model": _label(row), "reason": found.reason})
            if row.deprecation_date is not None:
                kept.append({**_name(row), "date": row.deprecation_date.isoformat()})
            continue
        matched += 1
        raw = entry.get("deprecation_date")
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
            dates_set.append({**_name(row), "from": _iso(row.deprecation_date), "to": _iso(when)})
            changed = True
        if when <= today and not row.deprecated:
            out.dates[row.id] = when
            out.deprecate.add(row.id)
            out.deprecated_events.append((row, when))
            newly.append({**_name(row), "date": _iso(when), "key": found.key})
            changed = True
        elif today < when:
            days_left = (when - today).days
            if when <= horizon:
                retiring.append({**_name(row), "date": _iso(when), "days_left": days_left})
                changed = True
            milestone = due_milestone(today, when, milestones)
            if milestone is not None:
                out.retiring_events.append((row, when, milestone))
                reminders.append(
                    {
                        **_name(row),
                        "date": _iso(when),
                        "days_left": days_left,
                        "milestone": milestone,
                    }
                )
        if not changed:
            unchanged += 1
    unmatched.sort()
    out.suggestions = _suggestions(rows, entries, matched_keys, out, today)
    for item in (*newly, *retiring, *reminders):
        suggested = out.suggestions.get(parse_host_id(item["id"]))
        if suggested is not None:
            item["suggested"] = f"{suggested[0]}:{suggested[1]}"
    out.report = {
        "matched": matched,
        "unmatched": unmatched,
        "other_provider": sorted(other_provider, key=_BY_MODEL),
        "kept": sorted(kept, key=_BY_MODEL),
        "newly_deprecated": sorted(newly, key=_BY_MODEL),
        "retiring": sorted(retiring, key=_BY_MODEL),
        "reminders": sorted(reminders, key=_BY_MODEL),
        "dates_set": sorted(dates_set, key=_BY_MODEL),
        "invalid_dates": sorted(invalid, key=_BY_MODEL),
        "unchanged": unchanged,
    }
    return out


def _candidate(row: EnrichmentRow) -> Candidate:
    return Candidate(
        row.id, row.provider, row.name, row.team_id, row.deprecated, row.deprecation_date
    )


def _suggestions(
    rows: list[EnrichmentRow],
    entries: dict[str, Any],
    matched_keys: dict[HostId, str],
    out: Enrichment,
    today: date,
) -> dict[HostId, tuple[str, str]]:
    """Suggested successors of the models this run announces that have no replacement."""
    announced = [row for row, _ in out.deprecated_events]
    announced += [row for row, _, _ in out.retiring_events]
    wanted = [r for r in announced if r.replacement_model_id is None and r.id in matched_keys]
    if not wanted:
        return {}
    index = SuccessorIndex((_candidate(r), matched_keys.get(r.id), r.litellm_model) for r in rows)
    found: dict[HostId, tuple[str, str]] = {}
    for row in wanted:
        entry = entries[matched_keys[row.id]]
        best = suggest_successor(_candidate(row), entry, entries, index, today, out.deprecate)
        if best is not None:
            found[row.id] = (best.provider, best.name)
    return found


def _event(
    slug: Slug,
    key: str,
    row: EnrichmentRow,
    when: date,
    replacement: tuple[str, str] | None,
    suggested: tuple[str, str] | None,
) -> dict[str, Any]:
    if replacement is not None:
        suggested = None  # the catalog's replacement is what people are told
    return {
        "slug": slug.value,
        "dedup_key": key,
        "model_id": row.id,
        "model_provider": row.provider,
        "model_name": row.name,
        "replacement_provider": replacement[0] if replacement else None,
        "replacement_model_name": replacement[1] if replacement else None,
        "deprecation_date": when,
        "suggested_provider": suggested[0] if suggested else None,
        "suggested_model_name": suggested[1] if suggested else None,
    }


async def emit_enrichment_events(
    session: AsyncSession, result: Enrichment, references: tuple[Reference, ...]
) -> list[uuid.UUID]:
    """Write the deprecated/retiring events not yet in the outbox, with usage per team.

    Keys are shared with every other writer (``deprecated_key`` is the catalog's too),
    so a model is announced as deprecated once, whoever noticed first. A suggested
    successor rides along on the event only; no model's replacement is changed.
    """
    wanted = [
        (Slug.DEPRECATED, deprecated_key(row.id), row, when)
        for row, when in result.deprecated_events
    ]
    wanted += [
        (Slug.RETIRING, retiring_key(row.id, when, milestone), row, when)
        for row, when, milestone in result.retiring_events
    ]
    if not wanted:
        return []
    present = await existing_dedup_keys(session, [key for _, key, _, _ in wanted])
    missing = [w for w in wanted if w[1] not in present]
    model_ids = list({row.id for _, _, row, _ in missing})
    usage = await usage_of_models(session, model_ids, references)
    replacements = await replacement_names(session, model_ids)
    events = [
        {
            **_event(
                slug, key, row, when, replacements.get(row.id), result.suggestions.get(row.id)
            ),
            "payload": usage[row.id],
        }
        for slug, key, row, when in missing
    ]
    return await insert_events(session, events)


async def read_cost_map(settings: JobConfig) -> CostMap:
    """Load the map off the event loop; a missing map is a permanent failure."""
    try:
        return await asyncio.to_thread(load_cost_map, settings.cost_map_source)
    except CostMapError as exc:
        raise CostMapUnavailable(str(exc)) from exc


async def read_models_and_map(
    session: AsyncSession, settings: JobConfig, given: CostMap | None
) -> tuple[list[EnrichmentRow], CostMap]:
    """Send the read of every model, then parse the map while the server answers.

    These are the two big costs of a run. The parse runs in a thread and holds the GIL,
    so the query is sent first: PostgreSQL works on it while the map is parsed.
    """
    reading = asyncio.ensure_future(enrichment_rows(session))
    await asyncio.sleep(0)  # one step of the read: the query is on the wire
    try:
        cmap = given or await read_cost_map(settings)
    finally:
        rows = await reading  # always drain the connection, even if the map failed
    return rows, cmap


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
    milestones = runtime.settings.reminder_milestones
    if payload.dry_run:
        async with runtime.sessions() as session:
            rows, cmap = await read_models_and_map(session, runtime.settings, cost_map)
        result = compute_enrichment(rows, cmap.entries, today, window, milestones)
        return {"dry_run": True, "source": cmap.describe(), **result.report}

    try:
        async with runtime.sessions() as session, session.begin():
            started_at = datetime.now(UTC)
            await lock_model_catalog(session)
            rows, cmap = await read_models_and_map(session, runtime.settings, cost_map)
            result = compute_enrichment(rows, cmap.entries, today, window, milestones)
            await apply_deprecation_dates(session, result.dates, result.deprecate)
            event_ids = await emit_enrichment_events(session, result, runtime.platform.live())
            summary = {"source": cmap.describe(), **result.report, "events": len(event_ids)}
            run_id = await record_finished_run(
                session,
                JOB,
                job_id=runtime.job_id,
                trigger=payload.trigger,
                started_at=started_at,
                summary=summary,
            )
    except Exception as exc:
        error = {"error": f"{type(exc).__name__}: {exc}"}
        await record_unsuccessful_run(runtime, JOB, payload.trigger, "failed", error)
        raise
    await publish_events(runtime, event_ids)
    return {"dry_run": False, "run_id": str(run_id), **summary}


def _daily(settings: JobConfig) -> dict[str, Any]:
    at = settings.enrich_cron_time
    return {"hour": at.hour, "minute": at.minute, "second": at.second}


JOBS = (JobSpec(JOB, EnrichPayload, enrich_deprecations),)
CRONS = (CronSpec(JOB, _daily, {"dry_run": False, "trigger": "cron"}),)
