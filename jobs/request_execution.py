"""Execution of admitted migration and deletion requests: batches and the final transaction.

A request is carried out in batches — each batch its own transaction — and finished by
one transaction that locks the source row, sweeps late references, moves model pointers,
retires the source and writes audit and outbox rows. Re-running a request resumes it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.faults import violated_constraint
from db.keys import HostId, parse_host_id
from db.models import LlmModel, ModelMigration
from db.models.lifecycle import RequestStatus
from db.platform.host import Platform
from db.queries import repointing as q
from db.queries import requests as rq
from db.queries.audit import record_audit
from db.queries.models import get_model
from db.queries.parameters import parameter_pairs
from db.queries.references import referencing_labels
from db.reference import Reference
from jobs.batch_sizing import BatchPause, BatchSizer
from jobs.deprecation import read_cost_map
from jobs.errors import PermanentJobError, RequestRefused
from jobs.events import Slug, emit_model_event, publish_events, request_event_key
from jobs.faults import is_transient
from jobs.parameters import Target, decide, load_translator, rule
from jobs.request_admission import (
    Request,
    admit_request,
    check_same_request,
    name_teams,
    with_team_ids,
)
from jobs.request_result import ModelInResult, RequestResult
from jobs.runtime import Runtime
from jobs.validation import (
    describe,
    request_in_progress,
    retired_source,
    scope_findings,
)

AfterBatch = Callable[[str, int], Awaitable[None]]
SWEEP_LIMIT = 10_000
# A request in one of these is (re)started by its job; any other status is its answer.
RUNNABLE = (RequestStatus.PENDING, RequestStatus.RUNNING, RequestStatus.FAILED)


def _movable(platform: Platform, row: ModelMigration) -> tuple[Reference, ...]:
    """What the request changes: every live reference, or only clearable ones if clearing."""
    if row.to_model_id is None:
        return tuple(ref for ref in platform.live() if ref.clearable)
    return platform.live()


async def _drain(
    step: Callable[[HostId | None, int], Awaitable[q.BatchOutcome]],
    after: HostId | None,
    sizes: Callable[[], int],
) -> int:
    """Run ``step`` from keyset cursor ``after`` until a short batch; total rows changed.

    Each batch takes ``sizes()`` rows at most. A short batch means the backlog is gone:
    whatever the main application writes later is swept under the source row lock at the
    end, so a busy writer cannot keep this chasing it.
    """
    total = 0
    while True:
        limit = sizes()
        batch = await step(after, limit)
        total += batch.moved
        if batch.selected < limit or batch.last_key is None:
            return total
        after = batch.last_key


async def _parameter_target(
    runtime: Runtime, row: ModelMigration, target: LlmModel | None
) -> Target | None:
    """What parameters are translated for (``None``: no reference carries any)."""
    carries = any(ref.parameters for ref in _movable(runtime.platform, row))
    if target is None or not carries:
        return None
    cost_map = await read_cost_map(runtime.settings)
    await load_translator()
    return Target.of(target.provider, target.name, target.litellm_model, cost_map)


async def _parameter_rules(
    session: AsyncSession, ref: Reference, source: HostId, goal: Target | None
) -> list[dict[str, Any]] | None:
    """The rules a move of ``ref`` carries its rows' parameters by (every pair they hold
    now; a row written later with another pair waits for the sweep)."""
    if goal is None or ref.parameters is None:
        return None
    pairs = await parameter_pairs(session, ref, source)
    return [rule(decide(goal, p.key, p.value)) for p in pairs]


class RequestStopped(Exception):
    """An operator paused or cancelled the request: no further batch runs."""


async def _move_all(
    runtime: Runtime,
    row: ModelMigration,
    *,
    scope: q.Scope | None,
    goal: Target | None,
    after_batch: AfterBatch | None,
) -> None:
    """Batches, each its own transaction, until no live reference is left.

    Each label resumes from the keyset cursor saved with the last committed batch. A
    batch first locks the request row: a pause or cancel waits for the batch in flight to
    commit, and once it has, the next batch sees it and raises :class:`RequestStopped`
    with nothing moved. Batches size themselves toward the target time and wait the
    configured pause between them.
    """
    source = row.from_model_id
    assert source is not None
    async with runtime.sessions() as session:
        progress = await rq.progress_by_label(session, row.id)
    pause = BatchPause(runtime.settings.batch_pause_ms)
    for ref in _movable(runtime.platform, row):
        async with runtime.sessions() as session:
            rules = await _parameter_rules(session, ref, source, goal)
        sizer = BatchSizer.of(runtime.settings)

        async def step(
            after: HostId | None,
            limit: int,
            ref: Reference = ref,
            rules: list[dict[str, Any]] | None = rules,
            sizer: BatchSizer = sizer,
        ) -> q.BatchOutcome:
            await pause.before_batch()
            began = time.monotonic()
            async with runtime.sessions() as session, session.begin():
                await q.relax_commit_durability(session)
                await q.plan_without_jit(session)
                if await rq.lock_request_status(session, row.id) != RequestStatus.RUNNING:
                    raise RequestStopped
                if row.to_model_id is not None and not await q.lock_live_model(
                    session, row.to_model_id
                ):
                    raise PermanentJobError(_target_retired(row))
                batch = await q.move_batch(
                    session,
                    ref,
                    migration_id=row.id,
                    source=source,
                    target=row.to_model_id,
                    limit=limit,
                    after=after,
                    scope=scope,
                    param_rules=rules,
                )
                if batch.selected:
                    await rq.record_batch_progress(
                        session, row.id, ref.label, batch.moved, batch.last_key
                    )
            elapsed = time.monotonic() - began
            sizer.observe(elapsed * 1000)
            runtime.observer.batch_done(ref.label, batch.moved, elapsed)
            if batch.moved and after_batch is not None:
                await after_batch(ref.label, batch.moved)
            return batch

        saved = progress.get(ref.label)
        await _drain(step, saved.cursor if saved is not None else None, sizer.current)


async def _target_of(runtime: Runtime, row: ModelMigration) -> LlmModel | None:
    """The request's target row (``None`` when it clears references): its scope and what
    parameters are translated for."""
    if row.to_model_id is None:
        return None
    async with runtime.sessions() as session:
        target = await get_model(session, row.to_model_id)
    if target is None:
        raise PermanentJobError(_target_retired(row))
    return target


def _scope(row: ModelMigration, target: LlmModel | None) -> q.Scope | None:
    """The rows the request may change (``None``: a clear of every team's rows)."""
    teams = None if row.teams is None else tuple(parse_host_id(t) for t in row.teams)
    if target is None and teams is None:
        return None
    return q.Scope.of(target, teams)


async def _check_scope(
    session: AsyncSession,
    platform: Platform,
    row: ModelMigration,
    target: LlmModel,
    scope: q.Scope,
) -> None:
    """Under the source row lock: refuse when a live reference is one the request was not
    admitted for (written meanwhile by another team onto a custom target the request did
    not limit to its team, or in a space above the target's level). Nothing of them is
    moved and the source stays as it is. For a request that names its teams, other
    teams' rows are simply not its business."""
    assert row.from_model_id is not None
    found = await q.out_of_scope(session, _movable(platform, row), row.from_model_id, scope)
    teams = scope.teams if scope.chosen else None
    for finding in scope_findings(target, teams, found, meanwhile=True):
        raise RequestRefused(finding.code, finding.message)


async def _reject(session: AsyncSession, row: ModelMigration, code: str, message: str) -> None:
    """End a recorded request as ``rejected`` with ``code`` (nothing of it changes later)."""
    codes = list(row.warnings or [])
    await rq.update_request(
        session,
        row.id,
        status=RequestStatus.REJECTED,
        warnings=[*codes, code] if code not in codes else codes,
        error=f"{code}: {message}",
        finished_at=func.now(),
    )
    await session.flush()
    await session.refresh(row)


async def _sweep(
    session: AsyncSession,
    platform: Platform,
    row: ModelMigration,
    scope: q.Scope | None,
    goal: Target | None,
) -> int:
    """Move whatever is left (references written while the batches ran), from the start,
    with parameter rules read under the source row lock (no pair is left undecided)."""
    source = row.from_model_id
    assert source is not None
    total = 0
    for ref in _movable(platform, row):
        rules = await _parameter_rules(session, ref, source, goal)

        async def step(
            after: HostId | None,
            limit: int,
            ref: Reference = ref,
            rules: list[dict[str, Any]] | None = rules,
        ) -> q.BatchOutcome:
            return await q.move_batch(
                session,
                ref,
                migration_id=row.id,
                source=source,
                target=row.to_model_id,
                limit=limit,
                after=after,
                scope=scope,
                param_rules=rules,
            )

        total += await _drain(step, None, lambda: SWEEP_LIMIT)
    return total


def tally(
    rows: list[tuple[str, HostId | None, int]],
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """A request's rows changed, per label and per team (``{team: {label: rows}}``, the
    event's payload), from :func:`db.queries.requests.counts_by_label_and_team`."""
    counts: dict[str, int] = {}
    teams: dict[str, dict[str, int]] = {}
    for label, team, n in rows:
        counts[label] = counts.get(label, 0) + n
        if team is not None:
            teams.setdefault(str(team), {})[label] = n
    return counts, teams


async def _finish(
    runtime: Runtime, request_id: uuid.UUID, goal: Target | None
) -> tuple[RequestResult, uuid.UUID | None]:
    """The final transaction. Returns the result and the event to publish (if any)."""
    async with runtime.sessions() as session, session.begin():
        await q.plan_without_jit(session)
        row = await rq.get_request(session, request_id=request_id, for_update=True)
        assert row is not None
        if row.status != RequestStatus.RUNNING:
            # Finished meanwhile (a re-run), or paused or cancelled after the last batch.
            return RequestResult.of(row), None
        source = (
            await get_model(session, row.from_model_id, for_update=True)
            if row.from_model_id is not None
            else None
        )
        retired = retired_source(source)
        if retired is not None:
            await _reject(session, row, retired.code, retired.message)
            return RequestResult.of(row), None
        assert source is not None
        if row.to_model_id is not None and not await q.lock_live_model(session, row.to_model_id):
            raise PermanentJobError(_target_retired(row))
        target = await get_model(session, row.to_model_id) if row.to_model_id else None
        scope = _scope(row, target)
        if target is not None:
            assert scope is not None
            await _check_scope(session, runtime.platform, row, target, scope)
        swept = await _sweep(session, runtime.platform, row, scope, goal)
        if (
            row.kind == "deletion"
            and target is None
            and await q.exists_unclearable(session, runtime.platform.live(), source.id, scope)
        ):
            raise PermanentJobError(
                "replacement_required: a reference that cannot be cleared was added "
                "while the deletion ran; name a replacement and run again"
            )
        now_retired, pointers = await _retire_if_unused(
            session, runtime.platform, row, source, target
        )
        counts, teams = tally(await rq.counts_by_label_and_team(session, row.id))
        progress = dict(row.progress or {})
        # What this transaction did to models, for undo: the pointers it moved and the
        # mark it set on the source.
        progress.update(
            phase="done",
            swept=swept,
            pointers=pointers.counts(),
            repointed=pointers.journal(),
        )
        if now_retired:
            progress["retired"] = row.kind
        await rq.update_request(
            session,
            row.id,
            status=RequestStatus.SUCCEEDED,
            counts=counts,
            progress=progress,
            source_retired=now_retired,
            error=None,
            finished_at=func.now(),
        )
        action = "model.migrated" if row.kind == "migration" else "model.deleted"
        await record_audit(
            session,
            action,
            actor=row.requested_by,
            model_id=source.id,
            details={
                "provider": source.provider,
                "name": source.name,
                "team_id": str(source.team_id) if source.team_id else None,
                "request_key": row.request_key,
                "requested_by": row.requested_by,
                "replacement": None
                if target is None
                else ModelInResult.of(target).model_dump(mode="json"),
                "counts": counts,
                "warnings": list(row.warnings or []),
                "teams": row.teams,
                "source_retired": now_retired,
            },
        )
        slug = Slug.MIGRATED if row.kind == "migration" else Slug.DELETED
        event_id = await emit_model_event(
            session,
            slug,
            source,
            dedup_key=request_event_key(slug, row.id),
            payload=teams,
            replacement=target,
        )
        await session.flush()
        await session.refresh(row)
        return RequestResult.of(row, teams=len(teams)), event_id


async def _retire_if_unused(
    session: AsyncSession,
    platform: Platform,
    row: ModelMigration,
    source: LlmModel,
    target: LlmModel | None,
) -> tuple[bool, q.RepointedModels]:
    """Under the source row lock, after the sweep: mark the source migrated or deleted
    when no live reference to it is left at all (any team's); (retired, pointers moved).

    A source other teams still use stays live and usable, and so do the pointers of
    models migrated to (or replaced by) it: they follow it to its final target when the
    request that retires it runs (no chains, and no pointer to a model still in use is
    moved away from it).
    """
    if await referencing_labels(session, source.id, platform.live()):
        return False, q.RepointedModels([], [])
    to = target.id if target else None
    pointers = await q.repoint_model_pointers(session, source.id, to)
    await q.retire_source(session, source.id, kind=row.kind, target=to)
    return True, pointers


def _target_retired(row: ModelMigration) -> str:
    return (
        f"target {row.to_provider}:{row.to_model_name} was migrated or deleted while the "
        "request ran; the rows moved so far went along with it, the rest still use the "
        "source — name a live target in a new request"
    )


async def _mark_failed(
    runtime: Runtime, request_id: uuid.UUID, error: str, code: str | None = None
) -> None:
    """End a running request as ``failed`` (one an operator paused or cancelled meanwhile
    keeps that status)."""
    async with runtime.sessions() as session, session.begin():
        row = await rq.get_request(session, request_id=request_id, for_update=True)
        if row is None or row.status not in RUNNABLE:
            return
        values: dict[str, Any] = {}
        if code is not None:
            codes = list(row.warnings or [])
            values["warnings"] = codes if code in codes else [*codes, code]
        await rq.update_request(
            session,
            request_id,
            status=RequestStatus.FAILED,
            error=error[:2000],
            finished_at=func.now(),
            **values,
        )


async def _start(session: AsyncSession, row: ModelMigration) -> RequestResult | None:
    """Re-validate a request about to (re)start and mark it running; its final result
    instead when the source is no longer live (another request retired it)."""
    source = await get_model(session, row.from_model_id) if row.from_model_id else None
    retired = retired_source(source)
    if retired is not None:
        await _reject(session, row, retired.code, retired.message)
        return RequestResult.of(row)
    assert source is not None
    busy = request_in_progress(await rq.active_request_for(session, source.id), source, own=row.id)
    if busy is not None:
        raise RequestRefused(
            busy.code, f"{busy.message}; run this request again once it has finished"
        )
    progress = dict(row.progress or {})
    progress["phase"] = "moving"
    await rq.update_request(
        session,
        row.id,
        status=RequestStatus.RUNNING,
        error=None,
        progress=progress,
        started_at=func.coalesce(ModelMigration.started_at, func.now()),
        run_started_at=func.now(),
        finished_at=None,
    )
    return None


async def _stopped_result(runtime: Runtime, request_id: uuid.UUID) -> RequestResult:
    """The result of a request this run does not (or no longer) carry on."""
    async with runtime.sessions() as session:
        row = await rq.get_request(session, request_id=request_id)
    assert row is not None
    return RequestResult.of(row)


def _in_progress(key: str, status: str, source: LlmModel | None) -> RequestRefused:
    return RequestRefused(
        "migration_in_progress",
        f"request {key} for {describe(source)} is {status}; run this request again once "
        "it has finished",
    )


async def execute_request(
    runtime: Runtime, request_id: uuid.UUID, *, after_batch: AfterBatch | None = None
) -> RequestResult:
    """Run (or resume) an admitted request to the end."""
    try:
        async with runtime.sessions() as session, session.begin():
            row = await rq.get_request(session, request_id=request_id, for_update=True)
            assert row is not None
            if row.status not in RUNNABLE:
                # Finished, or paused or cancelled by an operator: only `resume` (which
                # makes it pending again) carries a paused request on.
                return await _stopped_result(runtime, request_id)
            final = await _start(session, row)
            if final is not None:
                return final
    except IntegrityError as exc:
        if violated_constraint(exc) != rq.ACTIVE_SOURCE_INDEX:
            raise
        raise _in_progress("another request", RequestStatus.RUNNING, None) from exc
    try:
        target = await _target_of(runtime, row)
        scope = _scope(row, target)
        goal = await _parameter_target(runtime, row, target)
        await _move_all(runtime, row, scope=scope, goal=goal, after_batch=after_batch)
        result, event_id = await _finish(runtime, request_id, goal)
    except RequestStopped:
        return await _stopped_result(runtime, request_id)
    except PermanentJobError as exc:
        code = exc.code if isinstance(exc, RequestRefused) else None
        await _mark_failed(runtime, request_id, str(exc), code)
        raise
    except Exception as exc:
        if not is_transient(exc) or runtime.job_try >= runtime.settings.max_tries:
            await _mark_failed(runtime, request_id, f"{type(exc).__name__}: {exc}")
        raise
    await publish_events(runtime, [event_id])
    return result


async def run_request(
    runtime: Runtime,
    request: Request,
    *,
    today: date | None = None,
    after_batch: AfterBatch | None = None,
) -> RequestResult:
    """Admit (or find) the request under its key and carry it out; idempotent."""
    request = await _resolve_teams(runtime, request)
    result = await _admit_and_execute(runtime, request, today=today, after_batch=after_batch)
    async with runtime.sessions() as session:
        return await name_teams(session, runtime.platform, result)


async def _resolve_teams(runtime: Runtime, request: Request) -> Request:
    """The request with its teams as ids. Ids its key already recorded (a resumed job's
    payload) are taken as they are: a team removed from the host meanwhile does not
    strand a request that was admitted for it."""
    if request.teams is None:
        return request
    async with runtime.sessions() as session:
        existing = await rq.get_request(session, request_key=request.request_key)
    if existing is not None and sorted(request.teams) == sorted(existing.teams or []):
        return request
    return await with_team_ids(runtime, request)


async def _admit_and_execute(
    runtime: Runtime, request: Request, *, today: date | None, after_batch: AfterBatch | None
) -> RequestResult:
    for _ in range(2):
        async with runtime.sessions() as session:
            existing = await rq.get_request(session, request_key=request.request_key)
        if existing is not None:
            await check_same_request(runtime, existing, request)
            return await execute_request(runtime, existing.id, after_batch=after_batch)
        request_id, rejection = await admit_request(runtime, request, today=today)
        if rejection is not None:
            return rejection
        if request_id is not None:
            return await execute_request(runtime, request_id, after_batch=after_batch)
    raise PermanentJobError(f"request {request.request_key} could not be admitted")


async def close_spent_request(runtime: Runtime, request_key: str, tries: int) -> None:
    """After the last try: a request its job left ``pending``/``running`` (the worker died
    each time) is closed as ``failed`` (interrupted), resumable under its key."""
    async with runtime.sessions() as session, session.begin():
        row = await rq.get_request(session, request_key=request_key, for_update=True)
        if row is None or row.status not in (RequestStatus.PENDING, RequestStatus.RUNNING):
            return
        await rq.update_request(
            session,
            row.id,
            status=RequestStatus.FAILED,
            error=f"interrupted: the job gave up after {tries} tries; run the same request "
            "key again to resume",
            finished_at=func.now(),
        )
