"""Migration and deletion jobs: validated, batched, resumable re-pointing of live configuration.

Admission (payloads, validation, request rows) lives in :mod:`jobs.request_admission`;
the batches and the final transaction in :mod:`jobs.request_execution`.
"""

from __future__ import annotations

import asyncio

from jobs.parameters import load_translator
from jobs.request_admission import DeleteModelPayload, MigrateModelPayload, Request, preview_request
from jobs.request_execution import close_spent_request, run_request
from jobs.request_result import RequestResult
from jobs.runtime import Runtime
from jobs.spec import JobSpec


async def give_up(runtime: Runtime, payload: MigrateModelPayload | DeleteModelPayload) -> None:
    """What the worker calls when a job's tries are spent."""
    await close_spent_request(runtime, payload.request_key, runtime.settings.max_tries)


async def migrate_model(runtime: Runtime, payload: MigrateModelPayload) -> RequestResult:
    """Job ``migrate_model`` (with ``dry_run``: the verdict only, nothing changed)."""
    if payload.dry_run:
        return await preview_request(runtime, Request.of(payload))
    return await run_request(runtime, Request.of(payload))


async def delete_model(runtime: Runtime, payload: DeleteModelPayload) -> RequestResult:
    """Job ``delete_model`` (with ``dry_run``: the verdict only, nothing changed)."""
    if payload.dry_run:
        return await preview_request(runtime, Request.of(payload))
    return await run_request(runtime, Request.of(payload))


_WARMING: set[asyncio.Task[None]] = set()


async def warm_translator(runtime: Runtime) -> None:
    """At worker start, where references carry parameters: import litellm in the
    background, so the first migration (or one taken over after a crash) does not wait
    seconds for it."""
    if any(ref.parameters for ref in runtime.platform.live()):
        task = asyncio.create_task(load_translator())
        _WARMING.add(task)
        task.add_done_callback(_WARMING.discard)


JOBS = (
    JobSpec("migrate_model", MigrateModelPayload, migrate_model, give_up=give_up),
    JobSpec("delete_model", DeleteModelPayload, delete_model, give_up=give_up),
)
STARTUP = (warm_translator,)
