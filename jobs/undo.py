"""Undo of a finished migration or deletion request (job ``undo_request``).

What a request changed is in its journal (written by the statements that changed it). Undo
runs in three steps, each its own transaction, so a crash anywhere resumes where it
stopped: (1) under the source row lock, the source's retired mark is cleared and the
models it re-pointed name the source again, where that request did it; (2) batches put
back, newest first, every journaled row that still holds what the request wrote (a row
changed since is left alone and counted); (3) under the source row lock, the request
ends ``undone``, with its audit record and an ``llm-model-migration-undone`` event to the
teams it touched. Where each step stands is kept in the request's ``progress.undo``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId
from db.models import ModelMigration
from db.models.lifecycle import RequestStatus
from db.queries import requests as rq
from db.queries import undo as uq
from db.queries.audit import record_audit
from db.queries.keys import key_type
from db.queries.models import get_model
from db.queries.repointing import lock_live_model, plan_without_jit, relax_commit_durability
from db.reference import Reference
from jobs.batch_sizing import BatchPause
from jobs.errors import PermanentJobError, RequestRefused
from jobs.events import Slug, emit_model_event, publish_events, request_event_key
from jobs.request_admission import name_teams
from jobs.request_execution import tally
from jobs.request_result import UndoResult
from jobs.runtime import Runtime
from jobs.spec import JobSpec, Payload
from jobs.validation import describe

# A request in one of these can be undone.
UNDOABLE = (RequestStatus.SUCCEEDED, RequestStatus.FAILED, RequestStatus.CANCELLED)


class UndoRequestPayload(Payload):
    request_key: str = Field(min_length=1, max_length=200)
    requested_by: str = Field(min_length=1, max_length=200)
    dry_run: bool = False


class UndoStopped(Exception):
    """Another run finished the undo meanwhile: this one answers with its result."""


def _undo_state(row: ModelMigration) -> dict[str, Any]:
    return dict((row.progress or {}).get("undo") or {})


async def _refusal(session: AsyncSession, row: ModelMigration) -> RequestRefused | None:
    """Why ``row`` cannot be undone now (``None``: it can)."""
    if row.status in (RequestStatus.PENDING, RequestStatus.RUNNING, RequestStatus.PAUSED):
        return RequestRefused(
            "migration_in_progress",
            f"request {row.request_key} is {row.status}: cancel it first, or wait for it to finish",
        )
    if row.status not in UNDOABLE or not row.journaled:
        why = (
            "it changed nothing"
            if row.status == RequestStatus.REJECTED
            else "it was recorded before requests kept a journal of what they changed"
        )
        return RequestRefused(
            "undo_unavailable", f"request {row.request_key} cannot be undone: {why}"
        )
    source = await get_model(session, row.from_model_id) if row.from_model_id else None
    if source is None:
        return RequestRefused(
            "source_deleted",
            f"{row.from_provider}:{row.from_model_name} was removed by the cleanup; there "
            "is no model to put its references back on",
        )
    # This request's own mark is cleared by the undo; a mark another request set (one
    # that finished the rollout a team-scoped request began, say) must be undone first:
    # rows put back on a retired source would be live references to a dead model.
    set_here = (row.progress or {}).get("retired") if row.source_retired is not False else None
    retired_by_other = (
        source.migrated_to_model_id is not None
        and (set_here != "migration" or source.migrated_to_model_id != row.to_model_id)
    ) or (source.deleted_at is not None and set_here != "deletion")
    if retired_by_other and not _undo_state(row).get("models"):
        return RequestRefused(
            "source_deleted",
            f"{describe(source)} was retired by another request since; undo that one first",
        )
    return await _held(session, row)


async def _held(session: AsyncSession, row: ModelMigration) -> RequestRefused | None:
    """``migration_in_progress`` while another request holds the source or the target."""
    for model in (row.from_model_id, row.to_model_id):
        if model is None:
            continue
        active = await rq.active_request_for(session, model)
        if active is not None and active.id != row.id:
            return RequestRefused(
                "migration_in_progress",
                f"request {active.request_key} ({active.status}) holds "
                f"{describe(await get_model(session, model))}; undo once it has finished",
            )
    return None


def _refused(row: ModelMigration, refusal: RequestRefused, *, dry_run: bool) -> UndoResult:
    """The undo's answer when it is refused: the request itself is left as it was."""
    return UndoResult.of(
        row,
        status=RequestStatus.REJECTED,
        request_status=row.status,
        codes=[refusal.code],
        error=str(refusal),
        restored={},
        changed_since={},
        dry_run=dry_run,
    )


def _references(runtime: Runtime, labels: set[str]) -> list[Reference]:
    """The live references the request journaled rows of, in the mapping's order."""
    refs = [ref for ref in runtime.platform.live() if ref.label in labels]
    missing = labels - {ref.label for ref in refs}
    if missing:
        raise PermanentJobError(
            f"undo_unavailable: the request changed {', '.join(sorted(missing))}, which the "
            "platform mapping no longer names as live references"
        )
    return refs


async def _count(runtime: Runtime, row: ModelMigration) -> tuple[dict[str, int], dict[str, int]]:
    """A dry run: per label, the rows undo would put back and those changed since."""
    restored: dict[str, int] = {}
    changed: dict[str, int] = {}
    assert row.from_model_id is not None
    async with runtime.sessions() as session:
        for ref in _references(runtime, await uq.journaled_labels(session, row.id)):
            keys = await key_type(session, runtime.platform.qualified(ref.table), ref.key_column)
            before: int | None = None
            while True:
                batch = await uq.undo_batch(
                    session,
                    ref,
                    keys,
                    migration_id=row.id,
                    source=row.from_model_id,
                    target=row.to_model_id,
                    before=before,
                    dry_run=True,
                )
                _add(restored, ref.label, batch.restored)
                _add(changed, ref.label, batch.selected - batch.restored)
                if batch.last_id is None:
                    break
                before = batch.last_id
    return restored, changed


def _add(counts: dict[str, int], label: str, n: int) -> None:
    if n:
        counts[label] = counts.get(label, 0) + n


async def _locked(session: AsyncSession, request_id: uuid.UUID) -> ModelMigration:
    row = await rq.get_request(session, request_id=request_id, for_update=True)
    assert row is not None
    if row.status == RequestStatus.UNDONE:
        raise UndoStopped
    return row


async def _save(session: AsyncSession, row: ModelMigration, state: dict[str, Any]) -> None:
    progress = dict(row.progress or {})
    progress["undo"] = state
    await rq.update_request(session, row.id, progress=progress)


async def _restore_models(runtime: Runtime, request_id: uuid.UUID, actor: str) -> None:
    """Step 1: the source's mark and the re-pointed models, once."""
    async with runtime.sessions() as session, session.begin():
        row = await _locked(session, request_id)
        state = _undo_state(row)
        if state.get("models") is not None:
            return
        assert row.from_model_id is not None
        source = await get_model(session, row.from_model_id, for_update=True)
        refusal = await _refusal(session, row)
        if refusal is not None or source is None:
            raise refusal or RequestRefused("source_deleted", "the source model is gone")
        progress = row.progress or {}
        cleared = False
        if progress.get("retired") and row.source_retired is not False:
            cleared = await uq.clear_source_mark(session, source.id, kind=row.kind)
        repointed = progress.get("repointed") or {}
        pointers = await uq.point_back(
            session,
            source=source.id,
            target=row.to_model_id,
            migrated=list(repointed.get("migrated") or []),
            replaced=list(repointed.get("replaced") or []),
        )
        state.update(
            models={"source_mark_cleared": cleared, "pointers": pointers},
            cursor={},
            restored={},
            changed_since={},
            requested_by=actor,
        )
        await _save(session, row, state)


async def _restore_rows(runtime: Runtime, request_id: uuid.UUID) -> None:
    """Step 2: batches of journal entries per reference, from the saved cursors."""
    async with runtime.sessions() as session:
        row = await rq.get_request(session, request_id=request_id)
        assert row is not None and row.from_model_id is not None
        labels = await uq.journaled_labels(session, row.id)
        keys = {
            ref.label: await key_type(
                session, runtime.platform.qualified(ref.table), ref.key_column
            )
            for ref in _references(runtime, labels)
        }
    source: HostId = row.from_model_id
    pause = BatchPause(runtime.settings.batch_pause_ms)
    # A batch puts back one journal row: the rows one statement of the request changed,
    # in a batch the request sized toward the same target time.
    for ref in _references(runtime, labels):
        while True:
            await pause.before_batch()
            began = time.monotonic()
            async with runtime.sessions() as session, session.begin():
                # A batch and its cursor commit (or vanish) together: a resumed undo
                # redoes whatever a server crash lost.
                await relax_commit_durability(session)
                await plan_without_jit(session)
                row = await _locked(session, request_id)
                state = _undo_state(row)
                cursor = (state.get("cursor") or {}).get(ref.label, "start")
                if cursor is None:
                    break  # this reference is done
                # The source is share-locked live (the write protocol); a request admitted
                # for it or the target since the undo began stops it here.
                refusal = await _held(session, row)
                if refusal is not None:
                    raise refusal
                if not await lock_live_model(session, source):
                    raise RequestRefused(
                        "source_deleted", "the source was retired again while undo ran"
                    )
                batch = await uq.undo_batch(
                    session,
                    ref,
                    keys[ref.label],
                    migration_id=row.id,
                    source=source,
                    target=row.to_model_id,
                    before=None if cursor == "start" else int(cursor),
                    dry_run=False,
                )
                _add(state.setdefault("restored", {}), ref.label, batch.restored)
                _add(
                    state.setdefault("changed_since", {}),
                    ref.label,
                    batch.selected - batch.restored,
                )
                finished = batch.last_id is None
                state.setdefault("cursor", {})[ref.label] = None if finished else batch.last_id
                await _save(session, row, state)
            elapsed = time.monotonic() - began
            runtime.observer.batch_done(ref.label, batch.restored, elapsed)
            if finished:
                break


async def _finish(runtime: Runtime, request_id: uuid.UUID) -> tuple[UndoResult, uuid.UUID | None]:
    """Step 3: the request ends undone, with audit and event, under the source row lock."""
    async with runtime.sessions() as session, session.begin():
        row = await _locked(session, request_id)
        assert row.from_model_id is not None
        source = await get_model(session, row.from_model_id, for_update=True)
        if source is None:
            raise RequestRefused("source_deleted", "the source model is gone")
        target = await get_model(session, row.to_model_id) if row.to_model_id else None
        state = _undo_state(row)
        result = {
            "restored": dict(state.get("restored") or {}),
            "changed_since": dict(state.get("changed_since") or {}),
            **(state.get("models") or {}),
        }
        state.update(phase="done", result=result)
        await _save(session, row, state)
        await rq.update_request(session, row.id, status=RequestStatus.UNDONE)
        await record_audit(
            session,
            "model.request_undone",
            actor=state.get("requested_by"),
            model_id=source.id,
            details={
                "provider": source.provider,
                "name": source.name,
                "request_key": row.request_key,
                "kind": row.kind,
                "requested_by": state.get("requested_by"),
                **result,
            },
        )
        _, teams = tally(await rq.counts_by_label_and_team(session, row.id))
        event_id = await emit_model_event(
            session,
            Slug.UNDONE,
            source,
            dedup_key=request_event_key(Slug.UNDONE, row.id),
            payload=teams,
            replacement=target,
        )
        await session.flush()
        await session.refresh(row)
        return _answer(row), event_id


def _answer(row: ModelMigration, *, dry_run: bool = False) -> UndoResult:
    """An undone request's recorded result (a dry run of it answers the same)."""
    recorded = _undo_state(row).get("result") or {}
    return UndoResult.of(
        row,
        restored=dict(recorded.get("restored") or {}),
        changed_since=dict(recorded.get("changed_since") or {}),
        source_mark_cleared=bool(recorded.get("source_mark_cleared")),
        pointers=dict(recorded.get("pointers") or {}),
        dry_run=dry_run,
    )


async def undo_request(runtime: Runtime, payload: UndoRequestPayload) -> UndoResult:
    """Undo the request under ``payload.request_key`` (a dry run counts, changes nothing).

    Idempotent and resumable: an undone request answers its recorded result.
    """
    async with runtime.sessions() as session:
        row = await rq.get_request(session, request_key=payload.request_key)
        if row is None:
            raise RequestRefused(
                "request_not_found", f"no request {payload.request_key!r} is recorded"
            )
        refusal = None if row.status == RequestStatus.UNDONE else await _refusal(session, row)
    if row.status == RequestStatus.UNDONE:
        result = _answer(row, dry_run=payload.dry_run)
    elif refusal is not None:
        result = _refused(row, refusal, dry_run=payload.dry_run)
    elif payload.dry_run:
        restored, changed = await _count(runtime, row)
        result = UndoResult.of(row, restored=restored, changed_since=changed, dry_run=True)
    else:
        result = await _carry_out(runtime, row.id, payload.requested_by)
    async with runtime.sessions() as session:
        return await name_teams(session, runtime.platform, result)


async def _carry_out(runtime: Runtime, request_id: uuid.UUID, actor: str) -> UndoResult:
    try:
        await _restore_models(runtime, request_id, actor)
        await _restore_rows(runtime, request_id)
        result, event_id = await _finish(runtime, request_id)
    except UndoStopped:
        async with runtime.sessions() as session:
            row = await rq.get_request(session, request_id=request_id)
        assert row is not None
        return _answer(row)
    except RequestRefused as exc:
        async with runtime.sessions() as session:
            row = await rq.get_request(session, request_id=request_id)
        assert row is not None
        return _refused(row, exc, dry_run=False)
    await publish_events(runtime, [event_id])
    return result


JOBS = (JobSpec("undo_request", UndoRequestPayload, undo_request),)
