"""Weekly cleanup: hard-delete retired models once nothing refers to them (docs/cleanup.md).

A model is removed only when it is soft-deleted or migrated, no history row and no live
reference (soft-deleted rows excepted) refers to it, and no other model's
``migrated_to_model_id`` points at it — checked again under a row lock right before the
delete, one transaction per model. Chains resolve in one run: removing A re-examines the
model A had migrated to. A dry run walks the same plan without writing, treating the
models it would remove as gone.

``LIFECYCLE_CLEANUP_MODE`` governs the scheduled runs (cron and catch-up): in ``report``
mode they walk the dry plan and record what ``delete`` would remove, deleting nothing. An
operator's run (``trigger="manual"``) does what it asks whatever the mode.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.faults import sqlstate
from db.json_values import to_json_types
from db.keys import HostId
from db.queries.audit import finish_run, record_audit, start_run
from db.queries.cleanup import (
    CLEANUP_JOB,
    Holders,
    RetiredModel,
    close_interrupted_runs,
    count_retired_models,
    database_now,
    delete_model_row,
    find_holders,
    finished_run_summary,
    last_cleanup_finished_at,
    lock_retired_model,
    repoint_not_live,
    reset_lock_timeout,
    retired_models_exist,
    select_retired_models,
    set_lock_timeout,
    undoable_requests,
)
from db.queries.history import request_ids_of_model
from db.reference import Reference
from jobs.config import CleanupMode, JobConfig
from jobs.faults import is_transient
from jobs.runtime import Runtime
from jobs.spec import CronSpec, JobSpec, Payload

log = logging.getLogger("lifecycle.cleanup")

Trigger = Literal["cron", "manual", "catch_up"]
# What one run does: delete, report (a scheduled run in report mode) or an operator's dry run.
RunMode = Literal["delete", "report", "dry_run"]

HISTORY_REFERENCES = "history_references"
LIVE_REFERENCES = "live_references"
MIGRATION_POINTER = "migration_pointer"
# A request that retired it can still be undone (LIFECYCLE_UNDO_DAYS).
UNDO_WINDOW = "undo_window"
DB_RESTRICT = "db_restrict"
# Between selection and the lock the row vanished (another run) or was restored.
NOT_RETIRED = "not_retired"
# Another transaction (the main application's write protocol) held the row past the lock
# timeout: the model stays, and the next run tries it again.
LOCKED = "locked"

FOREIGN_KEY_VIOLATION = "23503"
LOCK_NOT_AVAILABLE = "55P03"
LOCK_TIMEOUT_MS = 5_000
# Faults about one model's transaction (lock timeout, deadlock, serialization, cancel).
PER_MODEL_FAULTS = ("55P03", "40P01", "40001", "57014")
CATCH_UP_AFTER = timedelta(days=7)
RUN_TIMEOUT_SECONDS = 3600
ACTOR = "cleanup"


class CleanupPayload(Payload):
    dry_run: bool = False
    trigger: Trigger = "manual"


@dataclass(frozen=True)
class Outcome:
    """What happened to one candidate: removed (``reason`` is None), skipped or failed."""

    model: RetiredModel
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def run_mode(payload: CleanupPayload, mode: CleanupMode) -> RunMode:
    """What this run does: an operator's run does what it asks; the scheduled runs (cron,
    catch-up) follow ``LIFECYCLE_CLEANUP_MODE``."""
    if payload.dry_run:
        return "dry_run"
    if payload.trigger != "manual" and mode == "report":
        return "report"
    return "delete"


@dataclass
class CleanupReport:
    """A run's report, stored as the ``lifecycle_runs.summary`` and returned by the job.

    Unless ``mode`` is ``delete``, nothing changed and ``removed`` lists what a deleting
    run would remove.
    """

    mode: RunMode
    trigger: str
    removed: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    candidates: int = 0
    deferred: int = 0
    duration_s: float = 0.0

    @property
    def dry_run(self) -> bool:
        """Whether the run changed nothing (an operator's dry run or a report-mode run)."""
        return self.mode != "delete"

    def add(self, outcome: Outcome) -> None:
        m = outcome.model
        entry: dict[str, Any] = {"model_id": m.id, "provider": m.provider, "name": m.name}
        if outcome.error is not None:
            self.errors.append({**entry, "error": outcome.error})
        elif outcome.reason is not None:
            self.skipped.append({**entry, "reason": outcome.reason, **outcome.detail})
        else:
            self.removed.append({**entry, "team_id": m.team_id, **outcome.detail})

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (ids and times as strings)."""
        report: dict[str, Any] = to_json_types(
            {
                "dry_run": self.dry_run,
                "mode": self.mode,
                "trigger": self.trigger,
                "candidates": self.candidates,
                "removed": self.removed,
                "skipped": self.skipped,
                "errors": self.errors,
                "deferred": self.deferred,
                "duration_s": round(self.duration_s, 3),
            }
        )
        return report


BeforeCandidate = Callable[[RetiredModel], Awaitable[None]]
Attempt = Callable[[RetiredModel], Awaitable[Outcome]]


def blocking_reason(holders: Holders, gone: set[HostId]) -> tuple[str, dict[str, Any]] | None:
    """Why the model must stay (first failing condition), or ``None`` if it may go.

    ``gone`` are models treated as already removed (a dry run's plan).
    """
    if holders.history:
        return HISTORY_REFERENCES, {"labels": holders.history}
    if holders.live:
        return LIVE_REFERENCES, {"labels": holders.live}
    pointing = [m for m in holders.migrated_from if m not in gone]
    if pointing:
        return MIGRATION_POINTER, {"models": pointing}
    return None


async def _undo_window(
    db: Any, model_id: HostId, undo_days: int
) -> tuple[str, dict[str, Any]] | None:
    """The skip while a request from ``model_id`` can still be undone (``None``: none can)."""
    keys = await undoable_requests(db, model_id, undo_days)
    if keys:
        return UNDO_WINDOW, {"requests": keys, "undo_days": undo_days}
    return None


async def remove_model(
    conn: AsyncConnection,
    model: RetiredModel,
    references: tuple[Reference, ...],
    *,
    run_id: uuid.UUID | None = None,
    trigger: str = "",
    undo_days: int = 0,
) -> Outcome:
    """Lock, re-check and hard-delete one model in its own transaction on ``conn``.

    A foreign-key violation at the delete rolls the whole transaction back (soft-deleted
    rows keep their model) and is a ``db_restrict`` skip.
    """
    locked: RetiredModel | None = None
    try:
        async with AsyncSession(bind=conn) as s, s.begin():
            locked = await lock_retired_model(s, model.id)
            if locked is None:
                return Outcome(model, NOT_RETIRED)
            blocked = blocking_reason(
                await find_holders(s, locked.id, references), set()
            ) or await _undo_window(s, locked.id, undo_days)
            if blocked is not None:
                return Outcome(locked, *blocked)
            repointed = await repoint_not_live(
                s, locked.id, locked.migrated_to_model_id, references
            )
            # Read before the delete clears the requests' link to the row (reference platform).
            requests = await request_ids_of_model(s, locked.id)
            await delete_model_row(s, locked.id)
            await record_audit(
                s,
                "model.hard_deleted",
                actor=ACTOR,
                model_id=locked.id,
                details=to_json_types(
                    {
                        **locked.snapshot(),
                        **requests,
                        "repointed": repointed,
                        "run_id": run_id,
                        "trigger": trigger,
                    }
                ),
            )
        return Outcome(locked, detail={"repointed": repointed})
    except DBAPIError as exc:
        state = sqlstate(exc)
        if state == FOREIGN_KEY_VIOLATION and locked is not None:
            constraint = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
            return Outcome(locked, DB_RESTRICT, {"constraint": constraint})
        if state == LOCK_NOT_AVAILABLE:
            return Outcome(locked or model, LOCKED, {"retry": "next run"})
        # A lost connection fails the run (ARQ retries it; removed models stay removed);
        # anything else about this one model is reported and the run goes on.
        if is_transient(exc) and state not in PER_MODEL_FAULTS:
            raise
        cause = getattr(exc.orig, "__cause__", None) or exc.orig or exc
        return Outcome(model, error=f"{type(cause).__name__}: {cause}")


async def _resolve(
    candidates: list[RetiredModel],
    attempt: Attempt,
    report: CleanupReport,
    before_candidate: BeforeCandidate | None,
) -> None:
    """Try every candidate; a removal re-examines the model it had migrated to."""
    queue = deque(candidates)
    waiting: dict[HostId, Outcome] = {}  # skipped only because a model points at them
    while queue:
        model = queue.popleft()
        if before_candidate is not None:
            await before_candidate(model)
        outcome = await attempt(model)
        if outcome.reason == MIGRATION_POINTER:
            waiting[model.id] = outcome
            continue
        report.add(outcome)
        target = outcome.model.migrated_to_model_id
        if outcome.reason is None and outcome.error is None and target in waiting:
            queue.append(waiting.pop(target).model)
    for outcome in waiting.values():
        report.add(outcome)


def _planner(conn: AsyncConnection, references: tuple[Reference, ...], undo_days: int) -> Attempt:
    """A dry-run attempt: the real checks, no lock, no write; planned removals count as
    gone, and the not-live rows the real run would re-point are counted."""
    planned: set[HostId] = set()

    async def attempt(model: RetiredModel) -> Outcome:
        blocked = blocking_reason(
            await find_holders(conn, model.id, references), planned
        ) or await _undo_window(conn, model.id, undo_days)
        if blocked is not None:
            return Outcome(model, *blocked)
        planned.add(model.id)
        repointed = await repoint_not_live(
            conn, model.id, model.migrated_to_model_id, references, dry_run=True
        )
        return Outcome(model, detail={"repointed": repointed})

    return attempt


async def _walk(
    runtime: Runtime,
    run_id: uuid.UUID,
    candidates: list[RetiredModel],
    report: CleanupReport,
    before_candidate: BeforeCandidate | None,
) -> None:
    """All candidates on one connection (a transaction per model, or one read-only plan)."""
    async with runtime.engine.connect() as conn:
        if report.dry_run:
            async with conn.begin():
                await _resolve(
                    candidates,
                    _planner(conn, runtime.platform.references, runtime.settings.undo_days),
                    report,
                    before_candidate,
                )
            return

        async def attempt(model: RetiredModel) -> Outcome:
            return await remove_model(
                conn,
                model,
                runtime.platform.references,
                run_id=run_id,
                trigger=report.trigger,
                undo_days=runtime.settings.undo_days,
            )

        async with conn.begin():
            await set_lock_timeout(conn, LOCK_TIMEOUT_MS)
        try:
            await _resolve(candidates, attempt, report, before_candidate)
        finally:
            with contextlib.suppress(DBAPIError):
                async with conn.begin():
                    await reset_lock_timeout(conn)


async def cleanup_retired_models(
    runtime: Runtime,
    payload: CleanupPayload,
    *,
    before_candidate: BeforeCandidate | None = None,
) -> dict[str, Any]:
    """Hard-delete eligible retired models (or, dry or in report mode, report which would
    go); log the run.

    ``before_candidate`` runs before each model's transaction (tests use it to change
    the data between selection and the lock).
    """
    report = CleanupReport(
        mode=run_mode(payload, runtime.settings.cleanup_mode), trigger=payload.trigger
    )
    if runtime.job_id and report.mode != "dry_run":
        async with runtime.sessions() as s:
            earlier = await finished_run_summary(s, runtime.job_id)
        if earlier is not None:  # the same ARQ job (one cron instant) already ran
            return {**earlier, "already_ran": True}
    started = time.monotonic()
    async with runtime.sessions() as s, s.begin():
        # A run a killed worker left "running" gets its final status here.
        await close_interrupted_runs(s, runtime.job_id, RUN_TIMEOUT_SECONDS)
        run_id = await start_run(
            s, CLEANUP_JOB, job_id=runtime.job_id, trigger=payload.trigger, dry_run=report.dry_run
        )
    try:
        async with runtime.sessions() as s:
            candidates = await select_retired_models(s, runtime.settings.cleanup_max_models)
            report.deferred = await count_retired_models(s) - len(candidates)
        report.candidates = len(candidates)
        await _walk(runtime, run_id, candidates, report, before_candidate)
    except BaseException:
        report.duration_s = time.monotonic() - started
        with contextlib.suppress(Exception):
            await _finish(runtime, run_id, "failed", report)
        raise
    report.duration_s = time.monotonic() - started
    await _finish(runtime, run_id, "succeeded", report)
    if report.mode == "report" and report.removed:
        log.warning(
            "cleanup run %s (%s) deleted nothing, LIFECYCLE_CLEANUP_MODE is report; "
            "delete would remove %d model(s): %s",
            run_id,
            report.trigger,
            len(report.removed),
            ", ".join(repr(f"{r['provider']}:{r['name']}") for r in report.removed[:20]),
        )
    return {"run_id": str(run_id), **report.as_dict()}


async def _finish(runtime: Runtime, run_id: uuid.UUID, status: str, report: CleanupReport) -> None:
    async with runtime.sessions() as s, s.begin():
        await finish_run(s, run_id, status=status, summary=report.as_dict())


async def catch_up_cleanup(runtime: Runtime) -> None:
    """At worker start: enqueue one cleanup if the weekly run was missed.

    Due when the last successful real or report-mode run finished more than 7 days ago,
    or there was none and retired models exist. The run follows ``LIFECYCLE_CLEANUP_MODE``
    (on a mapped host, by default, it only reports). The key (queue and day) makes
    workers that start together enqueue it once.
    """
    async with runtime.sessions() as s:
        now = await database_now(s)
        last = await last_cleanup_finished_at(s)
        due = now - last > CATCH_UP_AFTER if last is not None else await retired_models_exist(s)
    if not due:
        return
    day = now.astimezone(runtime.settings.zone).date().isoformat()
    await runtime.enqueue(
        CLEANUP_JOB,
        {"dry_run": False, "trigger": "catch_up"},
        f"catch-up:{runtime.settings.queue_name}:{day}",
    )


def weekly_schedule(settings: JobConfig) -> dict[str, Any]:
    """Sunday 04:00 in the configured timezone (the worker passes the zone to ARQ)."""
    return {"weekday": 6, "hour": 4, "minute": 0, "second": 0}


JOBS = (
    JobSpec(
        CLEANUP_JOB, CleanupPayload, cleanup_retired_models, timeout_seconds=RUN_TIMEOUT_SECONDS
    ),
)
CRONS = (CronSpec(CLEANUP_JOB, weekly_schedule, {"dry_run": False, "trigger": "cron"}),)
STARTUP = (catch_up_cleanup,)
