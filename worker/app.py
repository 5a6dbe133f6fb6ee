"""The ARQ worker: settings, typed dependencies, job wrappers and leases."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from arq import Retry, cron
from arq.connections import ArqRedis, RedisSettings
from arq.constants import in_progress_key_prefix
from arq.typing import WorkerCoroutine
from arq.worker import Function, Worker, func
from pydantic import ValidationError
from redis.asyncio.retry import Retry as RedisRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from db.engine import make_engine, make_sessionmaker
from db.platform.host import Platform
from jobs.errors import InvalidPayload, PermanentJobError
from jobs.faults import is_transient
from jobs.observer import Observer
from jobs.registry import all_crons, all_jobs, job_spec, startup_hooks
from jobs.runtime import Runtime
from jobs.spec import CronSpec, JobResult, JobSpec, job_id_for
from worker.faults import backoff_seconds
from worker.job_results import bounded_result
from worker.metrics import WorkerMetrics
from worker.platform import configured_mapping, ensure_platform_ready
from worker.serialization import deserialize, serialize
from worker.settings import Settings

log = logging.getLogger("lifecycle.worker")

_RUNTIME_KEY = "lifecycle_runtime"
# Backoff 0.2, 0.4, 0.8, 1.6, then 2 s: about 20 s of Redis outage before a command fails.
REDIS_COMMAND_RETRIES = 12


def runtime_of(ctx: dict[str, Any]) -> Runtime:
    """The one place that reads ARQ's ``ctx``: the worker's runtime for this job."""
    base = ctx.get(_RUNTIME_KEY)
    if not isinstance(base, Runtime):
        raise RuntimeError("worker runtime missing from ctx (on_startup did not run)")
    return dataclasses.replace(base, job_id=ctx.get("job_id"), job_try=int(ctx.get("job_try", 1)))


def redis_settings(settings: Settings, *, ride_out_outages: bool = False) -> RedisSettings:
    """ARQ connection settings from the configured URL, with short timeouts.

    With ``ride_out_outages`` (the worker), a command that loses its connection
    reconnects and retries with backoff for about 20 s, so a Redis restart does not end
    the worker; callers such as the client fail fast instead.
    """
    rs = RedisSettings.from_dsn(settings.redis_url.get_secret_value())
    # ARQ reads only the scheme of a rediss:// URL: its CA and certificates come from here.
    for option, value in settings.redis_tls.items():
        setattr(rs, option, value)
    rs.conn_timeout = 2
    rs.conn_retries = 3
    rs.conn_retry_delay = 1
    if ride_out_outages:
        # OSError too: a refused reconnect (inside redis-py's connect) is one.
        rs.retry_on_error = [RedisConnectionError, RedisTimeoutError, OSError]
        rs.retry = RedisRetry(ExponentialBackoff(cap=2.0, base=0.1), REDIS_COMMAND_RETRIES)
    return rs


def build_runtime(
    settings: Settings, redis: ArqRedis | None = None, observer: Observer | None = None
) -> Runtime:
    """Engine, sessions and an enqueue function that sends follow-up jobs to ``redis``;
    ``observer`` is told of each batch and delivery (the worker's metrics)."""
    engine = make_engine(
        settings.database_url.get_secret_value(),
        pool_size=settings.db_pool_size,
        layout=settings.layout,
    )

    async def enqueue(job: str, payload: dict[str, Any], key: str) -> None:
        if redis is None:
            return
        await redis.enqueue_job(
            job,
            payload,
            _job_id=job_id_for(job, key, settings.queue_name),
            _queue_name=settings.queue_name,
        )

    return Runtime(
        settings=settings.job_config,
        engine=engine,
        sessions=make_sessionmaker(engine),
        enqueue=enqueue,
        platform=Platform(configured_mapping(settings)),
        observer=observer or Observer(),
    )


def _parse_payload(spec: JobSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if kwargs or len(args) > 1:
        raise InvalidPayload(
            f"{spec.name}: expected one JSON object as the only argument, "
            f"got {len(args)} positional and {sorted(kwargs)} keyword arguments"
        )
    raw = args[0] if args else {}
    if not isinstance(raw, dict):
        raise InvalidPayload(
            f"{spec.name}: payload must be a JSON object, got {type(raw).__name__}"
        )
    try:
        return spec.payload.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidPayload(f"{spec.name}: invalid payload: {problems}") from exc


async def _renew_lease(redis: ArqRedis, job_id: str, lease_s: int) -> None:
    """Keep this job's in-progress key alive only while this process lives.

    ARQ sets the key for the longest job timeout; a crashed worker would block the job
    that long. A short lease, renewed here, lets another worker take over within
    ``lease_s`` seconds of a crash.
    """
    key = in_progress_key_prefix + job_id
    while True:
        try:
            await redis.pexpire(key, lease_s * 1000)
        except RedisError as exc:
            # Redis is away (restart, failover): keep trying. Should it stay away longer
            # than the lease, another worker may take the job over, which jobs allow.
            log.warning("lease of %s not renewed: %s: %s", job_id, type(exc).__name__, exc)
        await asyncio.sleep(lease_s / 4)


async def run_job(
    spec: JobSpec, runtime: Runtime, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Validate the payload, run the job, turn transient faults into a delayed retry; the
    result is bounded so that it can always be read back (``worker.job_results``).

    A job with a ``give_up`` step gets one try more than its limit from ARQ: that try
    closes what the spent tries left open, then fails the job.
    """
    payload = _parse_payload(spec, args, kwargs)
    tries = spec.max_tries or runtime.settings.max_tries
    if spec.give_up is not None and runtime.job_try > tries:
        await spec.give_up(runtime, payload)
        raise PermanentJobError(
            f"{spec.name}: gave up after {tries} tries (each ended by a crash or a transient "
            "fault); what they left running is closed as failed"
        )
    try:
        result = await spec.run(runtime, payload)
    except PermanentJobError:
        raise
    except Exception as exc:
        if not is_transient(exc):
            raise
        delay = backoff_seconds(runtime.job_try)
        log.warning(
            "%s: transient fault (%s: %s), retrying in %.0fs",
            spec.name,
            type(exc).__name__,
            exc,
            delay,
        )
        raise Retry(defer=delay) from exc
    # A typed result is stored as its JSON, as a result read back from Redis shows it.
    if isinstance(result, JobResult):
        return bounded_result(result.model_dump(mode="json"))
    return bounded_result(result)


@contextlib.asynccontextmanager
async def _leased(ctx: dict[str, Any], runtime: Runtime) -> AsyncIterator[None]:
    """Renew this job's lease while the body runs (the claim itself set the first one)."""
    redis = ctx.get("redis")
    lease = None
    if isinstance(redis, ArqRedis) and runtime.job_id:
        lease = asyncio.create_task(
            _renew_lease(redis, runtime.job_id, runtime.settings.job_lease_seconds)
        )
    try:
        yield
    finally:
        if lease is not None:
            lease.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await lease


def _job_function(spec: JobSpec, settings: Settings, metrics: WorkerMetrics) -> Function:
    async def handler(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        runtime = runtime_of(ctx)
        async with _leased(ctx, runtime), metrics.timing(spec.name):
            return await run_job(spec, runtime, args, kwargs)

    handler.__qualname__ = handler.__name__ = spec.name
    max_tries = spec.max_tries
    if spec.give_up is not None:
        max_tries = (max_tries or settings.max_tries) + 1
    return func(handler, name=spec.name, timeout=spec.timeout_seconds, max_tries=max_tries)


def _is_scheduled_run(job_id: str | None, name: str) -> bool:
    """Whether ``job_id`` is the one ARQ's scheduler gives a cron run: ``<name>:<ms>``."""
    prefix = f"{name}:"
    return job_id is not None and job_id.startswith(prefix) and job_id[len(prefix) :].isdigit()


def _cron_function(c: CronSpec, settings: Settings, metrics: WorkerMetrics) -> Any:
    spec = job_spec(c.job)
    name = f"cron:{c.job}"

    async def cron_handler(ctx: dict[str, Any]) -> dict[str, Any]:
        runtime = runtime_of(ctx)
        if not _is_scheduled_run(runtime.job_id, name):
            raise InvalidPayload(
                f"{name} runs only on its schedule; enqueue the job {c.job!r} to run it now"
            )
        async with _leased(ctx, runtime), metrics.timing(spec.name):
            return await run_job(spec, runtime, (dict(c.payload),), {})

    cron_handler.__qualname__ = cron_handler.__name__ = name
    coroutine: WorkerCoroutine = cron_handler
    return cron(
        coroutine,
        name=name,
        unique=True,
        timeout=spec.timeout_seconds,
        max_tries=1,
        **c.schedule(settings.job_config),
    )


def worker_kwargs(
    settings: Settings,
    *,
    burst: bool = False,
    on_startup_extra: Callable[[Runtime], Awaitable[None]] | None = None,
    metrics: WorkerMetrics | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``arq.worker.Worker`` built from ``settings``; ``metrics``
    counts the jobs and, with ``LIFECYCLE_HTTP_PORT``, serves them over HTTP."""
    metrics = metrics or WorkerMetrics(settings)

    async def on_startup(ctx: dict[str, Any]) -> None:
        redis = ctx.get("redis")
        runtime = build_runtime(settings, redis if isinstance(redis, ArqRedis) else None, metrics)
        async with runtime.engine.connect() as conn:
            await ensure_platform_ready(conn, settings)
        ctx[_RUNTIME_KEY] = runtime
        if settings.resolved_cleanup_mode == "report":
            log.info(
                "LIFECYCLE_CLEANUP_MODE is report: scheduled cleanup runs record what they "
                "would remove and delete nothing (set it to delete to let them hard-delete)"
            )
        for hook in startup_hooks():
            await hook(runtime)
        if on_startup_extra is not None:
            await on_startup_extra(runtime)
        await metrics.start(runtime)

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        await metrics.stop()
        runtime = ctx.get(_RUNTIME_KEY)
        if isinstance(runtime, Runtime):
            await runtime.engine.dispose()

    return {
        "functions": [_job_function(s, settings, metrics) for s in all_jobs()],
        "cron_jobs": [_cron_function(c, settings, metrics) for c in all_crons()],
        "redis_settings": redis_settings(settings, ride_out_outages=True),
        "queue_name": settings.queue_name,
        "burst": burst,
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "job_serializer": serialize,
        "job_deserializer": deserialize,
        "job_timeout": settings.job_timeout_seconds,
        "keep_result": settings.keep_result_seconds,
        "max_tries": settings.max_tries,
        "health_check_interval": settings.health_check_interval_seconds,
        "timezone": settings.zone,
        "handle_signals": True,
        "poll_delay": 0.5,
        "max_jobs": 10,
    }


class LifecycleWorker(Worker):
    """ARQ's worker, closing its Redis pool with ``aclose()``.

    arq 0.28's ``Worker.close`` calls redis-py's deprecated ``close()``, a warning on every
    shutdown; this is the same sequence with the current call. It also waits for the jobs
    it has just cancelled without letting one stop the shutdown: arq catches a cancellation
    inside a job's function, but a job cancelled while arq records its end (the result is
    written under a shield) re-raised ``CancelledError`` out of arq's own ``close``, which
    then skipped the health key, the shutdown hook and the pool's close. Any other error a
    job task ends with is logged, and the shutdown goes on.
    """

    async def close(self) -> None:
        if not self._handle_signals:
            self.handle_sig(signal.SIGUSR1)
        if not self._pool:
            return
        ended = await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        for error in ended:
            if isinstance(error, Exception):
                log.error("a job task failed while the worker closed: %r", error)
        await self.pool.delete(self.health_check_key)
        if self.on_shutdown:
            await self.on_shutdown(self.ctx)
        await self.pool.aclose(close_connection_pool=True)
        self._pool = None


def make_worker(
    settings: Settings,
    *,
    burst: bool = False,
    metrics: WorkerMetrics | None = None,
    **overrides: Any,
) -> Worker:
    """A ready-to-run ARQ ``Worker`` (tests pass ``poll_delay=0`` and the like)."""
    kwargs = worker_kwargs(settings, burst=burst, metrics=metrics)
    kwargs.update(overrides)
    worker = LifecycleWorker(**kwargs)
    # ARQ claims a job with an in-progress key that lasts the longest job timeout; a worker
    # dying between the claim and its first renewal would block the job that long. The
    # claim takes a lease instead, which the job's handler then renews.
    worker.in_progress_timeout_s = settings.job_lease_seconds
    return worker
