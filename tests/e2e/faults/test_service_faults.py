"""Redis restarted and PostgreSQL backends terminated while a migration runs."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import pytest
from arq.connections import RedisSettings, create_pool
from arq.constants import in_progress_key_prefix
from sqlalchemy import text

from jobs.runtime import Runtime
from tests.e2e.faults.harness import RedisServer, WorkerPool, wait_for
from tests.e2e.faults.scenario import (
    BATCH_SIZE,
    assert_same_end_state,
    prepare_scenario,
    request_statuses,
    run_undisturbed,
    start_migration,
    wait_fanned_out,
    wait_first_batch,
)
from worker.app import _renew_lease
from worker.client import LifecycleClient
from worker.settings import Settings

pytestmark = pytest.mark.faults


async def test_redis_killed_and_restarted_mid_migration(
    test_settings: Callable[..., Settings],
    own_redis: RedisServer,
    runtime: Runtime,
    worker_pool: Callable[..., WorkerPool],
    clone_of_test_db: Callable[..., Awaitable[Runtime]],
) -> None:
    settings = test_settings(redis_url=own_redis.url, health_check_interval_seconds=1)
    fleet, undisturbed, key = await prepare_scenario(runtime, clone_of_test_db, "redis")
    # A lease longer than the outage: the running job keeps its claim across the restart.
    pool = worker_pool(settings, LIFECYCLE_BATCH_SIZE=BATCH_SIZE, LIFECYCLE_JOB_LEASE_SECONDS="10")
    workers = [pool.start(), pool.start()]

    async def both_polling() -> bool:
        return all("Starting worker" in w.log() for w in workers)

    await wait_for(both_polling, timeout_s=60, what="two workers polling", diagnostics=pool.logs)
    async with LifecycleClient(settings) as client:
        job_id = await start_migration(client, fleet, key)
    await wait_first_batch(runtime, key, pool)
    own_redis.kill()
    await asyncio.sleep(2)
    own_redis.start()

    async with LifecycleClient(settings) as client:
        result = await client.result(job_id, timeout_s=120)
        tries = (await client.status(job_id)).tries
    assert result["status"] == "succeeded"
    await wait_fanned_out(runtime, pool)
    assert [w.proc.poll() for w in workers] == [None, None], pool.logs()
    assert tries == 1
    assert pool.logs().count(":migrate_model(") == 1, pool.logs()  # started once
    await run_undisturbed(undisturbed, fleet, key)
    await assert_same_end_state(runtime, undisturbed)
    status = await request_statuses(runtime, key)
    assert status == "succeeded"


async def test_lease_renewal_outlives_a_redis_restart(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    lease_s = 8  # renewed every 2 s
    redis = await create_pool(RedisSettings.from_dsn(own_redis.url))
    job_id = f"lease-{uuid.uuid4()}"
    key = in_progress_key_prefix + job_id
    await redis.psetex(key, 60_000, b"1")
    lease = asyncio.create_task(_renew_lease(redis, job_id, lease_s))
    try:

        async def shortened() -> bool:
            return 0 < int(await redis.pttl(key)) <= lease_s * 1000

        await wait_for(shortened, timeout_s=10, what="the lease to shorten the key")
        own_redis.kill()

        async def renewal_failed() -> bool:
            return "not renewed" in caplog.text or lease.done()

        await wait_for(renewal_failed, timeout_s=10, what="a renewal to fail")
        own_redis.start()  # the key comes back from the append-only file
        await asyncio.sleep(lease_s + 1)  # longer than the lease: only renewals keep the key
        assert not lease.done(), lease.exception()
        assert await redis.exists(key)
    finally:
        lease.cancel()
        with contextlib.suppress(BaseException):
            await lease
        await redis.aclose()


async def test_postgres_backends_terminated_mid_batch(
    e2e_settings: Settings,
    client: LifecycleClient,
    runtime: Runtime,
    database_url: str,
    worker_pool: Callable[..., WorkerPool],
    clone_of_test_db: Callable[..., Awaitable[Runtime]],
) -> None:
    fleet, undisturbed, key = await prepare_scenario(runtime, clone_of_test_db, "pgterm")
    pool = worker_pool(e2e_settings, LIFECYCLE_BATCH_SIZE=BATCH_SIZE)
    pool.start()
    job_id = await start_migration(client, fleet, key)
    database = urlsplit(database_url).path.lstrip("/")
    terminated = 0
    # Only backends of this test's database, and only ones inside a statement or a
    # transaction: the worker's batch is cut off half-way, never anyone else's work.
    async with runtime.engine.connect() as conn:
        deadline = asyncio.get_running_loop().time() + 60
        while terminated < 3 and asyncio.get_running_loop().time() < deadline:
            hit = await conn.scalar(
                text(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                    "FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid() "
                    "AND state IN ('active', 'idle in transaction') "
                    "AND EXISTS (SELECT 1 FROM model_migrations m "
                    "JOIN model_migration_progress p ON p.migration_id = m.id "
                    "WHERE m.request_key = :k AND m.status = 'running' AND p.batches > 0)"
                ),
                {"db": database, "k": key},
            )
            await conn.commit()
            terminated += int(hit or 0)
            await asyncio.sleep(0.2 if hit else 0.005)
    assert terminated >= 1, pool.logs()

    result = await client.result(job_id, timeout_s=120)
    assert result["status"] == "succeeded"
    tries = (await client.status(job_id)).tries
    assert tries is not None and tries >= 2, pool.logs()
    print(f"\npg_terminate_backend: {terminated} backend(s) cut off mid-batch; done on try {tries}")
    assert "transient fault" in pool.logs()
    await wait_fanned_out(runtime, pool)
    await run_undisturbed(undisturbed, fleet, key)
    await assert_same_end_state(runtime, undisturbed)
    status = await request_statuses(runtime, key)
    assert status == "succeeded"
