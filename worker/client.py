"""Client for the main application: enqueue lifecycle jobs and read their results.

    async with LifecycleClient.from_settings() as client:
        handle = await client.enqueue("ping", {"message": "hi"}, key="req-42")
        result = await client.result(handle.job_id, timeout_s=30)

The same ``key`` for the same job always maps to one ARQ job id, so a retried request
never runs the job twice (for as long as ARQ keeps the result, ``keep_result_seconds``;
jobs that change data also record their key in PostgreSQL).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from arq.connections import ArqRedis, create_pool
from arq.constants import result_key_prefix
from arq.jobs import Job, JobStatus
from pydantic import ValidationError

from jobs.registry import job_spec
from jobs.request_control import (
    RequestControlError,
    RequestSummary,
    cancel_request,
    list_requests,
    pause_request,
    resume_request,
)
from jobs.runtime import Runtime
from jobs.spec import Payload, job_id_for
from worker.app import build_runtime, redis_settings
from worker.serialization import deserialize, serialize
from worker.settings import Settings, load_settings

__all__ = [
    "ClientError",
    "JobFailed",
    "JobHandle",
    "JobState",
    "LifecycleClient",
    "RequestControlError",
    "RequestSummary",
]


class ClientError(ValueError):
    """The request was refused before it reached the queue (unknown job, bad payload)."""


class JobFailed(RuntimeError):
    """The job ran and failed; ``error`` carries its type and message."""

    def __init__(self, job_id: str, error: dict[str, Any]) -> None:
        super().__init__(f"job {job_id} failed: {error.get('error')}: {error.get('message')}")
        self.job_id = job_id
        self.error = error


@dataclass(frozen=True)
class JobHandle:
    """A job that is (or was) in the queue."""

    job_id: str
    job: str
    created: bool


@dataclass(frozen=True)
class JobState:
    """A job's status and, once finished, its outcome."""

    job_id: str
    status: str
    success: bool | None = None
    result: Any = None
    enqueued_at: datetime | None = None
    finished_at: datetime | None = None
    tries: int | None = None


class LifecycleClient:
    """Async context manager around one ARQ Redis pool."""

    def __init__(self, settings: Settings, *, redis: ArqRedis | None = None) -> None:
        """``redis`` lets a caller share an existing ARQ pool (it is then not closed here)."""
        self.settings = settings
        self._redis = redis
        self._owns_redis = redis is None
        # The database, for the request controls (opened on first use).
        self._runtime: Runtime | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Self:
        """Build from ``LIFECYCLE_*`` environment variables (or the given settings)."""
        return cls(settings or load_settings())

    @classmethod
    def from_url(cls, redis_url: str, *, queue_name: str | None = None) -> Self:
        """Build from a Redis URL (other settings from the environment)."""
        overrides: dict[str, Any] = {"redis_url": redis_url}
        if queue_name:
            overrides["queue_name"] = queue_name
        return cls(load_settings(**overrides))

    async def __aenter__(self) -> Self:
        if self._redis is not None:
            return self
        self._redis = await create_pool(
            redis_settings(self.settings),
            job_serializer=serialize,
            job_deserializer=deserialize,
            default_queue_name=self.settings.queue_name,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runtime is not None:
            await self._runtime.engine.dispose()
            self._runtime = None
        if self._redis is not None and self._owns_redis:
            await self._redis.aclose()
            self._redis = None

    @property
    def redis(self) -> ArqRedis:
        if self._redis is None:
            raise RuntimeError("LifecycleClient used outside `async with`")
        return self._redis

    async def enqueue(
        self,
        job: str,
        payload: dict[str, Any] | None = None,
        *,
        key: str,
        defer_seconds: float | None = None,
        retry_failed: bool = False,
    ) -> JobHandle:
        """Validate ``payload`` and queue ``job`` once per idempotency ``key``.

        With ``retry_failed``, a job under this key that finished with a failure is queued
        again (jobs resume: a failed migration re-run under its key finishes the work).
        """
        if not key or len(key) > 512:
            raise ClientError("an idempotency key of 1 to 512 characters is required")
        try:
            spec = job_spec(job)
        except KeyError as exc:
            raise ClientError(str(exc.args[0])) from exc
        try:
            parsed = spec.payload.model_validate(payload or {})
        except ValidationError as exc:
            raise ClientError(f"{job}: invalid payload: {exc}") from exc
        job_id = self.job_id(job, key)
        body = parsed.model_dump(mode="json")
        queued = await self.redis.enqueue_job(job, body, _job_id=job_id, _defer_by=defer_seconds)
        if queued is None:
            await self._refuse_other_request(spec.payload, parsed, job_id, key)
        if queued is None and retry_failed:
            state = await self.status(job_id)
            if state.status == JobStatus.complete.value and state.success is False:
                await self.redis.delete(result_key_prefix + job_id)
                queued = await self.redis.enqueue_job(
                    job, body, _job_id=job_id, _defer_by=defer_seconds
                )
        return JobHandle(job_id=job_id, job=job, created=queued is not None)

    async def _refuse_other_request(
        self, model: type[Payload], parsed: Payload, job_id: str, key: str
    ) -> None:
        """The key already names a job: refuse it if that job is another request."""
        identity = parsed.request_identity()
        if identity is None:
            return
        handle = Job(
            job_id, self.redis, _queue_name=self.settings.queue_name, _deserializer=deserialize
        )
        info = await handle.result_info() or await handle.info()
        if info is None or len(info.args) != 1:
            return
        try:
            recorded = model.model_validate(info.args[0]).request_identity()
        except ValidationError:
            recorded = None
        if recorded != identity:
            raise ClientError(
                f"request_key_conflict: request key {key!r} already names another request "
                f"({info.function} {_identity_text(recorded)}); this one "
                f"({_identity_text(identity)}) needs a key of its own"
            )

    async def migrate_model(
        self,
        source: str,
        target: str,
        *,
        requested_by: str,
        request_key: str,
        confirm_warnings: bool = False,
        teams: Sequence[str] | None = None,
    ) -> JobHandle:
        """Queue ``migrate_model`` (models as UUID or ``provider:name``); key = request_key.

        ``teams`` (ids or slugs) limits it to those teams' live references; the worker
        refuses an unknown team (``team_not_found``). The same key with other teams is
        another request (``request_key_conflict``): name the teams the same way each time.
        """
        payload = {
            "source": source,
            "target": target,
            "requested_by": requested_by,
            "request_key": request_key,
            "confirm_warnings": confirm_warnings,
            "teams": _team_list(teams),
        }
        return await self.enqueue("migrate_model", payload, key=request_key, retry_failed=True)

    async def delete_model(
        self,
        model: str,
        replacement: str | None = None,
        *,
        requested_by: str,
        request_key: str,
        teams: Sequence[str] | None = None,
    ) -> JobHandle:
        """Queue ``delete_model``; without a replacement, clearable references are cleared
        (``teams``: as for :meth:`migrate_model`)."""
        payload = {
            "model": model,
            "replacement": replacement,
            "requested_by": requested_by,
            "request_key": request_key,
            "teams": _team_list(teams),
        }
        return await self.enqueue("delete_model", payload, key=request_key, retry_failed=True)

    @property
    def runtime(self) -> Runtime:
        """The database (and this client's queue, for resumed requests' jobs)."""
        if self._runtime is None:
            self._runtime = build_runtime(self.settings, self.redis)
        return self._runtime

    async def pause_request(self, request_key: str, *, requested_by: str) -> dict[str, Any]:
        """Pause a pending or running request after its current batch; it keeps its source.

        Returns once the pause has taken effect (the batch in flight committed), with the
        request's result as it now stands and ``changed`` (false: it was already paused).
        Raises :class:`RequestControlError` for an unknown key or a request that is not
        pending or running. The result is JSON, as a job's result is (the fields of
        :class:`jobs.request_result.RequestResult`).
        """
        result = await pause_request(self.runtime, request_key, actor=requested_by)
        return result.model_dump(mode="json")

    async def resume_request(self, request_key: str, *, requested_by: str) -> dict[str, Any]:
        """Carry a paused request on from its cursor: queues its job (``job_id``)."""
        result = await resume_request(self.runtime, request_key, actor=requested_by)
        return result.model_dump(mode="json")

    async def cancel_request(self, request_key: str, *, requested_by: str) -> dict[str, Any]:
        """Stop a pending, running or paused request for good after its current batch:
        rows moved stay moved, the source stays live and is free for a new request."""
        result = await cancel_request(self.runtime, request_key, actor=requested_by)
        return result.model_dump(mode="json")

    async def requests(self, *, active: bool = False) -> list[RequestSummary]:
        """Requests, newest first (``active``: pending, running and paused ones)."""
        return await list_requests(self.runtime, active=active)

    async def undo_request(
        self, request_key: str, *, requested_by: str, key: str | None = None
    ) -> JobHandle:
        """Queue ``undo_request`` for the request under ``request_key``: what it changed is
        put back (see docs/requests-and-rollouts.md). The job is idempotent; ``key`` (by
        default a new one per call) names this attempt, so a refused undo can be asked
        again once what refused it is over."""
        payload = {"request_key": request_key, "requested_by": requested_by}
        return await self.enqueue(
            "undo_request", payload, key=key or undo_job_key(request_key), retry_failed=True
        )

    async def fanout_event(self, event_id: uuid.UUID | str) -> JobHandle:
        """Queue the notification fan-out of an outbox event (keyed on the event id)."""
        return await self.enqueue("fanout_event", {"event_id": str(event_id)}, key=str(event_id))

    async def cleanup_retired_models(
        self, dry_run: bool = False, *, key: str | None = None
    ) -> JobHandle:
        """Queue a manual cleanup run; without ``key`` every call is a new run."""
        return await self.enqueue(
            "cleanup_retired_models",
            {"dry_run": dry_run, "trigger": "manual"},
            key=key or f"cleanup-{uuid.uuid4()}",
        )

    async def sync_catalog(
        self,
        catalog: dict[str, Any],
        *,
        key: str,
        dry_run: bool = False,
        requested_by: str = "client",
    ) -> JobHandle:
        """Queue ``sync_catalog`` for a parsed catalog (``tomllib.load`` of the TOML file)."""
        payload = {"catalog": catalog, "dry_run": dry_run, "requested_by": requested_by}
        return await self.enqueue("sync_catalog", payload, key=key)

    async def enrich_deprecations(self, *, key: str, dry_run: bool = False) -> JobHandle:
        """Queue a manual ``enrich_deprecations`` run."""
        payload = {"dry_run": dry_run, "trigger": "manual"}
        return await self.enqueue("enrich_deprecations", payload, key=key)

    def job_id(self, job: str, key: str) -> str:
        """The ARQ job id that ``enqueue(job, …, key=key)`` uses."""
        return job_id_for(job, key, self.settings.queue_name)

    async def status(self, job_id: str) -> JobState:
        """The job's status (``queued``, ``in_progress``, ``complete``, ``not_found``…)."""
        handle = Job(
            job_id, self.redis, _queue_name=self.settings.queue_name, _deserializer=deserialize
        )
        status = await handle.status()
        if status is not JobStatus.complete:
            info = await handle.info()
            return JobState(
                job_id=job_id,
                status=status.value,
                enqueued_at=info.enqueue_time if info else None,
                tries=info.job_try if info else None,
            )
        res = await handle.result_info()
        if res is None:
            return JobState(job_id=job_id, status=JobStatus.not_found.value)
        return JobState(
            job_id=job_id,
            status=status.value,
            success=res.success,
            result=res.result,
            enqueued_at=res.enqueue_time,
            finished_at=res.finish_time,
            tries=res.job_try,
        )

    async def result(
        self, job_id: str, *, timeout_s: float | None = None, poll_s: float = 0.2
    ) -> Any:
        """Wait for the job and return its result; raise :class:`JobFailed` if it failed."""
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    state = await self.status(job_id)
                    if state.status == JobStatus.complete.value:
                        return _outcome(state)
                    if state.status == JobStatus.not_found.value:
                        raise LookupError(
                            f"job {job_id} not found (never queued, or its result expired)"
                        )
                    await asyncio.sleep(poll_s)
        except TimeoutError:
            raise TimeoutError(f"job {job_id} not finished after {timeout_s}s") from None


def _team_list(teams: Sequence[str] | None) -> list[str] | None:
    """``teams`` as the payload's list (a lone string is a mistake, not one letter each)."""
    if isinstance(teams, str):
        raise ClientError(f"teams: a list of team ids or slugs, not the string {teams!r}")
    return None if teams is None else list(teams)


def undo_job_key(request_key: str) -> str:
    """A new idempotency key for one attempt to undo ``request_key``."""
    return f"undo-{uuid.uuid4().hex[:12]}-{request_key}"


def _identity_text(identity: tuple[Any, ...] | None) -> str:
    if identity is None:
        return "unreadable payload"
    kind, source, target, teams = identity
    text = f"{kind} {source}" + (f" -> {target}" if target is not None else "")
    return text + ("" if teams is None else f" for team(s) {', '.join(teams)}")


def _outcome(state: JobState) -> Any:
    if state.success:
        return state.result
    result = state.result
    error = result if isinstance(result, dict) else {"message": str(result)}
    raise JobFailed(state.job_id, error)
