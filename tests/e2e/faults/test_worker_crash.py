"""A worker SIGKILLed (or SIGTERMed) in the middle of a migration: another one finishes it,
and the end state is the one an undisturbed run of the same request produces."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import text

from jobs.migration import MigrateModelPayload, migrate_model
from jobs.notifications import FanoutPayload, fanout_event
from jobs.runtime import Runtime
from tests.e2e.faults.harness import (
    LEASE_SECONDS,
    Fleet,
    WorkerPool,
    seed_fleet,
    table_contents,
    wait_for,
)
from worker.client import LifecycleClient
from worker.settings import Settings

pytestmark = pytest.mark.faults

BATCH_SIZE = "5"


async def _scalar(runtime: Runtime, sql: str, **params: object) -> object:
    async with runtime.engine.connect() as conn:
        return await conn.scalar(text(sql), params)


async def _batches(runtime: Runtime, key: str) -> int:
    n = await _scalar(
        runtime,
        "SELECT (progress->>'batches')::int FROM model_migrations WHERE request_key = :k",
        k=key,
    )
    return int(n or 0)  # type: ignore[call-overload]


async def _run_undisturbed(clone: Runtime, fleet: Fleet, key: str) -> None:
    """The same request, start to finish in this process, then its fan-out."""
    payload = MigrateModelPayload(
        source=fleet.source,
        target=fleet.target,
        requested_by="faults",
        request_key=key,
        confirm_warnings=True,
    )
    result = await migrate_model(clone, payload)
    assert result["status"] == "succeeded"
    async with clone.engine.connect() as conn:
        events = list(
            await conn.scalars(text("SELECT id FROM lifecycle_events WHERE fanned_out_at IS NULL"))
        )
    for event_id in events:
        await fanout_event(clone, FanoutPayload(event_id=event_id))


async def _wait_fanned_out(runtime: Runtime, pool: WorkerPool) -> None:
    async def done() -> bool:
        pending = await _scalar(
            runtime,
            "SELECT count(*) FILTER (WHERE fanned_out_at IS NULL) = 0 AND count(*) > 0 "
            "FROM lifecycle_events",
        )
        return bool(pending)

    await wait_for(done, timeout_s=60, what="the event's fan-out", diagnostics=pool.logs)


async def _assert_same_end_state(runtime: Runtime, clone: Runtime) -> None:
    mine, theirs = await table_contents(runtime.engine), await table_contents(clone.engine)
    assert sorted(mine) == sorted(theirs)
    for table in mine:
        assert mine[table] == theirs[table], f"{table} differs from the undisturbed run"


async def _start_migration(client: LifecycleClient, fleet: Fleet, key: str) -> str:
    handle = await client.migrate_model(
        fleet.source, fleet.target, requested_by="faults", request_key=key, confirm_warnings=True
    )
    assert handle.created
    return handle.job_id


async def test_sigkill_mid_migration_is_taken_over_within_the_lease(
    e2e_settings: Settings,
    client: LifecycleClient,
    runtime: Runtime,
    worker_pool: Callable[..., WorkerPool],
    clone_of_test_db: Callable[..., Awaitable[Runtime]],
) -> None:
    fleet = await seed_fleet(runtime.engine)
    undisturbed = await clone_of_test_db(batch_size=int(BATCH_SIZE))
    key = f"kill-{uuid.uuid4()}"
    pool = worker_pool(e2e_settings, LIFECYCLE_BATCH_SIZE=BATCH_SIZE)
    first = pool.start()
    job_id = await _start_migration(client, fleet, key)

    await wait_for(
        lambda: _batches(runtime, key),
        timeout_s=60,
        poll_s=0.01,
        what="the first committed batch",
        diagnostics=pool.logs,
    )
    first.signal(signal.SIGKILL)
    killed_at = time.monotonic()
    assert first.wait(timeout=10) == -signal.SIGKILL
    at_kill = await _batches(runtime, key)
    status = await _scalar(
        runtime, "SELECT status FROM model_migrations WHERE request_key = :k", k=key
    )
    assert status == "running", "the kill must land in the middle of the migration"

    pool.start()

    async def resumed() -> bool:
        return await _batches(runtime, key) > at_kill

    await wait_for(resumed, timeout_s=60, what="another worker resuming", diagnostics=pool.logs)
    takeover_s = time.monotonic() - killed_at
    result = await client.result(job_id, timeout_s=120)
    done_s = time.monotonic() - killed_at
    assert result["status"] == "succeeded"
    assert (await client.status(job_id)).tries == 2
    await _wait_fanned_out(runtime, pool)
    print(
        f"\nSIGKILL recovery (lease {LEASE_SECONDS}s, batch {BATCH_SIZE}, "
        f"{fleet.live_rows} live rows, killed after {at_kill} batches): "
        f"work resumed {takeover_s:.2f}s after the kill, request succeeded after {done_s:.2f}s"
    )

    await _run_undisturbed(undisturbed, fleet, key)
    await _assert_same_end_state(runtime, undisturbed)
    rows = await _scalar(
        runtime,
        "SELECT string_agg(status, ',') FROM model_migrations WHERE request_key = :k",
        k=key,
    )
    assert rows == "succeeded"
    notified = await _scalar(
        runtime,
        "SELECT count(DISTINCT (team_id, user_id)) = count(*) AND count(*) = :n FROM notifications",
        n=fleet.recipients,
    )
    assert notified is True


async def test_sigterm_mid_migration_hands_the_job_over(
    e2e_settings: Settings,
    client: LifecycleClient,
    runtime: Runtime,
    worker_pool: Callable[..., WorkerPool],
    clone_of_test_db: Callable[..., Awaitable[Runtime]],
) -> None:
    fleet = await seed_fleet(runtime.engine)
    undisturbed = await clone_of_test_db(batch_size=int(BATCH_SIZE))
    key = f"term-{uuid.uuid4()}"
    pool = worker_pool(e2e_settings, LIFECYCLE_BATCH_SIZE=BATCH_SIZE)
    first = pool.start()
    job_id = await _start_migration(client, fleet, key)
    await wait_for(
        lambda: _batches(runtime, key),
        timeout_s=60,
        poll_s=0.01,
        what="the first committed batch",
        diagnostics=pool.logs,
    )
    first.signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 0, first.log()
    state = await client.status(job_id)
    status = await _scalar(
        runtime, "SELECT status FROM model_migrations WHERE request_key = :k", k=key
    )
    # arq cancels the running job on SIGTERM and leaves it queued; its in-progress key is
    # removed at once, so the next worker starts it without waiting for the lease.
    assert state.status in ("queued", "deferred"), state
    assert status == "running"
    assert "cancelled, will be run again" in first.log()
    pool.start()
    result = await client.result(job_id, timeout_s=120)
    assert result["status"] == "succeeded"
    await _wait_fanned_out(runtime, pool)
    await _run_undisturbed(undisturbed, fleet, key)
    await _assert_same_end_state(runtime, undisturbed)
