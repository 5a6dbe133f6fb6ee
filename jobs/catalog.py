"""The ``sync_catalog`` job: reconcile the declared model catalog into ``llm_models``.

The sync creates and updates global models, flags and un-flags deprecation, reports
(never deletes) global models missing from the file, and hands ``[[deleted]]`` entries
to the ``delete_model`` job after its own transaction commits.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from db.json_values import to_json_types
from db.keys import HostId
from db.models import LlmModel
from db.platform.host import Platform
from db.queries.audit import finish_run, record_audit, start_run
from db.queries.catalog import (
    deletion_trail,
    global_models,
    insert_models,
    lock_model_catalog,
    unresolved_joined_values,
    update_models,
)
from db.queries.references import impact_by_team, impact_totals, usage_by_team
from jobs.catalog_file import (
    CatalogError,
    DeletedModel,
    ModelKey,
    label,
    validate_catalog,
)
from jobs.catalog_plan import Plan, Snapshot, counts, delete_request_key, plan_sync, take_snapshot
from jobs.errors import InvalidPayload
from jobs.events import Slug, deprecated_key, emit_model_event, publish_events
from jobs.run_log import record_unsuccessful_run, utc_today
from jobs.runtime import Runtime
from jobs.spec import JobSpec, Payload

JOB = "sync_catalog"
DELETE_JOB = "delete_model"
AUDIT_ACTION = "catalog.synced"


class SyncCatalogPayload(Payload):
    """``catalog`` is the parsed TOML document (``{"models": [...], "deleted": [...]}``)."""

    catalog: dict[str, Any]
    dry_run: bool = False
    requested_by: str = Field(default="catalog", min_length=1, max_length=200)


async def _describe_deletions(
    session: AsyncSession, platform: Platform, plan: Plan, snap: Snapshot
) -> None:
    for row, target in plan.deletions:
        usage = await usage_by_team(session, row.id, platform.live())
        target_row = snap.live.get(target) if target else None
        plan.report["deleted"].append(
            {
                "model": label((row.provider, row.name)),
                "id": row.id,
                "replacement": label(target) if target else None,
                "replacement_id": target_row.id if target_row is not None else None,
                # Unknown (in the plan) while the replacement is one the sync creates; the
                # result's ``delete_requests`` has every key, in this order.
                "request_key": None
                if target and target_row is None
                else delete_request_key(row.id, target_row.id if target_row else None),
                "usage": impact_totals(usage),
                "teams": impact_by_team(usage),
            }
        )


async def prepare_sync(
    session: AsyncSession, platform: Platform, raw: dict[str, Any], today: date
) -> tuple[Plan, Snapshot]:
    """Read the global models, validate the catalog against them, and plan the sync."""
    snap = take_snapshot(await global_models(session), platform.stored_model_columns)
    catalog = validate_catalog(raw, snap.known, today)
    plan = plan_sync(catalog, snap, today)
    problems = await unresolved_joined_values(session, platform.mapping, _written(plan))
    if problems:
        raise CatalogError(problems)
    await _describe_deletions(session, platform, plan, snap)
    return plan, snap


def _written(plan: Plan) -> dict[str, set[Any]]:
    """``{models view column: values}`` the sync writes: every column of a new model, the
    changed ones of an existing model."""
    written: dict[str, set[Any]] = {}
    for c in plan.changes:
        if c.current is None:
            row = {"provider": c.entry.provider, "name": c.entry.name, **c.columns}
        else:
            row = {k: v for k, v in c.columns.items() if getattr(c.current, k) != v}
        for column, value in row.items():
            written.setdefault(column, set()).add(value)
    return written


@dataclass
class _Applied:
    event_ids: list[uuid.UUID | None]
    deletions: list[tuple[dict[str, Any], str]]


def _placeholder(model_id: HostId, key: ModelKey) -> LlmModel:
    return LlmModel(id=model_id, provider=key[0], name=key[1])


async def _apply(session: AsyncSession, platform: Platform, plan: Plan, snap: Snapshot) -> _Applied:
    new_rows = [
        {"provider": c.entry.provider, "name": c.entry.name, "team_id": None, **c.columns}
        for c in plan.changes
        if c.current is None
    ]
    new_ids = await insert_models(session, new_rows)
    ids = {key: row.id for key, row in snap.live.items()} | new_ids

    updates = []
    for c in plan.changes:
        if c.current is not None or c.replacement is not None:
            model_id = c.current.id if c.current is not None else new_ids[c.entry.key]
            target_id = ids[c.replacement] if c.replacement else None
            updates.append({"id": model_id, **c.columns, "replacement_model_id": target_id})
    await update_models(session, updates)

    event_ids = []
    for c in plan.changes:
        if not c.newly_deprecated:
            continue
        model = c.current or _placeholder(new_ids[c.entry.key], c.entry.key)
        target = c.replacement
        replacement = None
        if target is not None:
            replacement = snap.live.get(target) or _placeholder(ids[target], target)
        usage = await usage_by_team(session, model.id, platform.live())
        event_ids.append(
            await emit_model_event(
                session,
                Slug.DEPRECATED,
                model,
                dedup_key=deprecated_key(model.id),
                payload=impact_by_team(usage),
                replacement=replacement,
                deprecation_date=c.current.deprecation_date if c.current else None,
            )
        )

    deletions = []
    for row, target in plan.deletions:
        key = delete_request_key(row.id, ids[target] if target else None)
        payload = {
            "model": str(row.id),
            "replacement": str(ids[target]) if target else None,
            "requested_by": "catalog",
            "request_key": key,
        }
        deletions.append((payload, key))
    return _Applied(event_ids=event_ids, deletions=deletions)


def catalog_digest(raw: dict[str, Any]) -> str:
    """A stable fingerprint of the catalog, for the audit trail."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


async def sync_catalog(
    runtime: Runtime, payload: SyncCatalogPayload, *, today: date | None = None
) -> dict[str, Any]:
    """Validate and reconcile the catalog; a dry run only reports the plan."""
    today = today or utc_today()
    digest = catalog_digest(payload.catalog)
    if payload.dry_run:
        async with runtime.sessions() as session:
            try:
                plan, _ = await prepare_sync(session, runtime.platform, payload.catalog, today)
            except CatalogError as exc:
                raise InvalidPayload(f"{JOB}: {exc}") from exc
        report = plan.report
        return {"dry_run": True, "digest": digest, "plan": report, "counts": counts(report)}

    try:
        async with runtime.sessions() as session, session.begin():
            await lock_model_catalog(session)
            run_id = await start_run(
                session, JOB, job_id=runtime.job_id, trigger="manual", dry_run=False
            )
            plan, snap = await prepare_sync(session, runtime.platform, payload.catalog, today)
            applied = await _apply(session, runtime.platform, plan, snap)
            summary = {
                "digest": digest,
                "requested_by": payload.requested_by,
                "counts": counts(plan.report),
                "plan": plan.report,
                "delete_requests": [key for _, key in applied.deletions],
            }
            await record_audit(
                session,
                AUDIT_ACTION,
                actor=payload.requested_by,
                details={"run_id": str(run_id), "digest": digest, "counts": summary["counts"]},
            )
            await finish_run(session, run_id, status="succeeded", summary=to_json_types(summary))
    except CatalogError as exc:
        summary = {"digest": digest, "requested_by": payload.requested_by, "errors": exc.errors}
        await record_unsuccessful_run(runtime, JOB, "manual", "rejected", summary)
        raise InvalidPayload(f"{JOB}: {exc}") from exc
    except Exception as exc:
        error = {"digest": digest, "error": f"{type(exc).__name__}: {exc}"}
        await record_unsuccessful_run(runtime, JOB, "manual", "failed", error)
        raise

    await publish_events(runtime, applied.event_ids)
    for delete_payload, key in applied.deletions:
        await runtime.enqueue(DELETE_JOB, delete_payload, key)
    return {
        "dry_run": False,
        "run_id": run_id,
        "digest": digest,
        "plan": plan.report,
        "counts": counts(plan.report),
        "events": [str(e) for e in applied.event_ids if e is not None],
        "delete_requests": [key for _, key in applied.deletions],
    }


JOBS = (JobSpec(JOB, SyncCatalogPayload, sync_catalog),)


PRUNE_AFTER_DAYS = 30


async def prune_check(
    session: AsyncSession, deleted: tuple[DeletedModel, ...], now: datetime | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Split ``[[deleted]]`` entries into those safe to remove from the file (deleted more
    than 30 days ago according to the audit trail, and no global row of that name left)
    and those to keep, with the reason."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=PRUNE_AFTER_DAYS)
    safe: list[dict[str, Any]] = []
    keep: list[dict[str, Any]] = []
    for trail in await deletion_trail(session, [d.key for d in deleted]):
        item: dict[str, Any] = {
            "model": label((trail.provider, trail.name)),
            "deleted_at": trail.first_deleted_at,
        }
        if trail.first_deleted_at is None:
            keep.append({**item, "reason": "no deletion recorded yet"})
        elif trail.still_present:
            keep.append({**item, "reason": "still in the database (awaiting cleanup)"})
        elif trail.first_deleted_at > cutoff:
            days = (now - trail.first_deleted_at).days
            keep.append({**item, "reason": f"deleted {days} day(s) ago"})
        else:
            safe.append(item)
    return {"safe": safe, "keep": keep}
