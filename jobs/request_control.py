"""An operator's controls over recorded requests: pause, resume, cancel, and the list.

Each control is one transaction on the request row. The row lock is what makes a pause
or cancel take effect between batches: a batch holds it while it moves rows (see
:mod:`jobs.request_execution`), so a control waits for the batch in flight to commit,
and the next batch sees the new status and moves nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ModelMigration
from db.models.lifecycle import RequestStatus
from db.queries import requests as rq
from db.queries.audit import record_audit
from db.queries.notifications import team_slugs
from jobs.request_admission import (
    DeleteModelPayload,
    MigrateModelPayload,
    name_teams,
    named_with_teams,
)
from jobs.request_result import ModelInResult, RequestResult
from jobs.runtime import Runtime
from jobs.spec import job_id_for

# Requests `lifecycle requests` shows at most (newest first).
LIST_LIMIT = 50


class RequestControlError(Exception):
    """A control that cannot apply to the request as it stands; nothing was changed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


async def _locked(session: AsyncSession, request_key: str) -> ModelMigration:
    """The request row under ``request_key``, locked (after the batch in flight)."""
    row = await rq.get_request(session, request_key=request_key, for_update=True)
    if row is None:
        raise RequestControlError(
            "request_not_found",
            f"no request {request_key!r} is recorded (a request queued with --no-wait is "
            "recorded once a worker takes its job)",
        )
    return row


def _refuse(row: ModelMigration, code: str, allowed: str, verb: str) -> RequestControlError:
    return RequestControlError(
        code, f"request {row.request_key} is {row.status}: only {allowed} request can be {verb}"
    )


async def _set_status(
    session: AsyncSession,
    row: ModelMigration,
    status: RequestStatus,
    *,
    action: str,
    actor: str,
    done: dict[str, int],
    **values: Any,
) -> None:
    """Change the request's status, with an audit record of who did (``action``) and the
    rows ``done`` so far per reference."""
    await rq.update_request(session, row.id, status=status, **values)
    await record_audit(
        session,
        action,
        actor=actor,
        model_id=row.from_model_id,
        details={"request_key": row.request_key, "kind": row.kind, "done": done},
    )
    await session.flush()
    await session.refresh(row)


async def _answer(
    session: AsyncSession,
    runtime: Runtime,
    row: ModelMigration,
    *,
    changed: bool,
    **extra: Any,
) -> RequestResult:
    """The request's result as a control answers it (``changed``: whether this call
    changed it), a custom model named with its team."""
    result = RequestResult.of(row, changed=changed, **extra)
    return await name_teams(session, runtime.platform, result)


async def pause_request(runtime: Runtime, request_key: str, *, actor: str) -> RequestResult:
    """Pause a pending or running request after its current batch; it keeps its source.

    Returns its result as it now stands (``changed``: whether this call paused it).
    """
    async with runtime.sessions() as session, session.begin():
        row = await _locked(session, request_key)
        if row.status == RequestStatus.PAUSED:
            return await _answer(session, runtime, row, changed=False)
        if row.status not in (RequestStatus.PENDING, RequestStatus.RUNNING):
            raise _refuse(row, "request_not_active", "a pending or running", "paused")
        done = await rq.done_by_label(session, row.id)
        await _set_status(
            session,
            row,
            RequestStatus.PAUSED,
            action="request.paused",
            actor=actor,
            done=done,
            counts=done,
        )
        return await _answer(session, runtime, row, changed=True)


async def cancel_request(runtime: Runtime, request_key: str, *, actor: str) -> RequestResult:
    """Stop a pending, running or paused request for good, after its current batch.

    Rows moved stay moved; the source stays live and is free for a new request.
    """
    async with runtime.sessions() as session, session.begin():
        row = await _locked(session, request_key)
        if row.status == RequestStatus.CANCELLED:
            return await _answer(session, runtime, row, changed=False)
        if row.status not in (
            RequestStatus.PENDING,
            RequestStatus.RUNNING,
            RequestStatus.PAUSED,
        ):
            raise _refuse(row, "request_not_active", "a pending, running or paused", "cancelled")
        done = await rq.done_by_label(session, row.id)
        await _set_status(
            session,
            row,
            RequestStatus.CANCELLED,
            action="request.cancelled",
            actor=actor,
            done=done,
            counts=done,
            finished_at=func.now(),
        )
        return await _answer(session, runtime, row, changed=True)


def resume_job(row: ModelMigration) -> tuple[str, dict[str, Any]]:
    """The job (name and payload) that carries a resumed request on under its key."""
    if row.from_model_id is None:
        raise RequestControlError(
            "source_not_found",
            f"request {row.request_key}: its source {row.from_provider}:{row.from_model_name} "
            "no longer exists; cancel it",
        )
    if row.kind == "migration":
        if row.to_model_id is None:
            raise RequestControlError(
                "target_not_found",
                f"request {row.request_key}: its target {row.to_provider}:{row.to_model_name} "
                "no longer exists; cancel it and make a new request",
            )
        migrate = MigrateModelPayload(
            source=str(row.from_model_id),
            target=str(row.to_model_id),
            requested_by=row.requested_by or "unknown",
            request_key=row.request_key,
            # Admitted with its warnings confirmed (or with none): a resume re-admits nothing.
            confirm_warnings=True,
            teams=row.teams,
        )
        return "migrate_model", migrate.model_dump(mode="json")
    delete = DeleteModelPayload(
        model=str(row.from_model_id),
        replacement=None if row.to_model_id is None else str(row.to_model_id),
        requested_by=row.requested_by or "unknown",
        request_key=row.request_key,
        teams=row.teams,
    )
    return "delete_model", delete.model_dump(mode="json")


async def resume_request(runtime: Runtime, request_key: str, *, actor: str) -> RequestResult:
    """Carry a paused request on from its cursor: it becomes ``pending`` and its job is
    queued (``job_id`` in the answer). Resuming it again before the job starts queues the
    same job; a running request is left as it is."""
    async with runtime.sessions() as session, session.begin():
        row = await _locked(session, request_key)
        if row.status == RequestStatus.RUNNING or (
            row.status == RequestStatus.PENDING and row.resumes == 0
        ):
            return await _answer(session, runtime, row, changed=False, job_id=None)
        changed = row.status == RequestStatus.PAUSED
        if not changed and row.status != RequestStatus.PENDING:
            raise _refuse(row, "request_not_paused", "a paused", "resumed")
        job, payload = resume_job(row)
        if changed:
            await _set_status(
                session,
                row,
                RequestStatus.PENDING,
                action="request.resumed",
                actor=actor,
                done=await rq.done_by_label(session, row.id),
                resumes=ModelMigration.resumes + 1,
                run_started_at=func.now(),
            )
    # Queued after the commit: the job must find the request pending, not paused.
    key = f"{row.request_key}:resume-{row.resumes}"
    await runtime.enqueue(job, payload, key)
    async with runtime.sessions() as session:
        return await _answer(
            session,
            runtime,
            row,
            changed=changed,
            job_id=job_id_for(job, key, runtime.settings.queue_name),
        )


@dataclass(frozen=True)
class RequestSummary:
    """One line of ``lifecycle requests``."""

    request_key: str
    kind: str
    status: str
    source: ModelInResult
    target: ModelInResult | None
    # The teams the request is limited to, by slug (by id where a team has none, or is
    # gone); ``None``: every team.
    teams: list[str] | None
    done: int
    planned: int | None
    rows_per_s: float | None
    eta_s: float | None
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "request_key": self.request_key,
            "kind": self.kind,
            "status": self.status,
            "source": self.source.model_dump(mode="json"),
            "target": None if self.target is None else self.target.model_dump(mode="json"),
            "teams": self.teams,
            "done": self.done,
            "planned": self.planned,
            "rows_per_s": self.rows_per_s,
            "eta_s": self.eta_s,
            "created_at": self.created_at.isoformat(),
        }


def summarize(row: ModelMigration, run: rq.RunRows, totals: rq.RequestTotals) -> RequestSummary:
    """What ``lifecycle requests`` shows of ``row``: rows done of planned, and the rate of
    its latest run (since it started or was resumed) with the time left at that rate."""
    result = RequestResult.of(row)
    planned = totals.planned
    if row.status == RequestStatus.SUCCEEDED:
        done = sum(int(n) for n in (row.counts or {}).values())
    else:
        done = totals.done
    rate = run_rate(row, run)
    eta: float | None = None
    if row.status == RequestStatus.SUCCEEDED:
        eta = 0.0
    elif row.status == RequestStatus.RUNNING and rate and planned is not None:
        eta = round(max(planned - done, 0) / rate, 1)
    return RequestSummary(
        request_key=row.request_key,
        kind=row.kind,
        status=row.status,
        source=result.source,
        target=result.target,
        teams=row.teams,
        done=done,
        planned=planned,
        rows_per_s=rate,
        eta_s=eta,
        created_at=row.created_at,
    )


def run_rate(row: ModelMigration, run: rq.RunRows) -> float | None:
    """Rows per second of the latest run: its batches' rows over the time from its start
    to now (running) or to its end (``None`` before a row moved)."""
    if row.run_started_at is None or run.rows <= 0:
        return None
    if row.status == RequestStatus.RUNNING:
        end = run.now
    else:
        end = row.finished_at or run.last_batch_at or run.now
    seconds = (end - row.run_started_at).total_seconds()
    return None if seconds <= 0 else round(run.rows / seconds, 1)


async def list_requests(
    runtime: Runtime, *, active: bool = False, limit: int = LIST_LIMIT
) -> list[RequestSummary]:
    """Requests newest first (``active``: pending, running and paused ones only)."""
    async with runtime.sessions() as session:
        found = await rq.recent_requests(session, active=active, limit=limit)
        summaries = [summarize(row, run, totals) for row, run, totals in found]
        # A custom model is shown with its team.
        models = await named_with_teams(
            session, [m for s in summaries for m in (s.source, s.target)]
        )
        slugs = await _team_slugs(session, runtime, summaries)
    named = []
    for summary, source, target in zip(summaries, models[::2], models[1::2], strict=True):
        assert source is not None
        teams = None if summary.teams is None else [slugs.get(t, t) for t in summary.teams]
        named.append(dataclasses.replace(summary, source=source, target=target, teams=teams))
    return named


async def _team_slugs(
    session: AsyncSession, runtime: Runtime, summaries: list[RequestSummary]
) -> dict[str, str]:
    """``{team id (text): slug}`` of the teams the listed requests are limited to."""
    ids = sorted({t for s in summaries for t in (s.teams or [])})
    return await team_slugs(session, runtime.platform, ids)
