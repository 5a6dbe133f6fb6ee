"""One scenario, shared by the fault tests: a big migration that a fault interrupts, and
an undisturbed run of the same request on a clone of the same data to compare against."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text

from jobs.migration import migrate_model
from jobs.notifications import FanoutPayload, fanout_event
from jobs.request_admission import MigrateModelPayload
from jobs.runtime import Runtime
from tests.e2e.faults.harness import (
    Fleet,
    WorkerPool,
    host_table_contents,
    seed_fleet,
    table_contents,
    wait_for,
)
from tests.platforms.drivers import HostDriver
from worker.client import LifecycleClient

BATCH_SIZE = "5"


async def scalar(runtime: Runtime, sql: str, **params: object) -> Any:
    """One value from the test's database."""
    async with runtime.engine.connect() as conn:
        return await conn.scalar(text(sql), params)


async def batches(runtime: Runtime, key: str) -> int:
    """Batches the request under ``key`` has committed so far."""
    n = await scalar(
        runtime,
        "SELECT sum(p.batches) FROM model_migration_progress p "
        "JOIN model_migrations m ON m.id = p.migration_id WHERE m.request_key = :k",
        k=key,
    )
    return int(n or 0)


async def wait_first_batch(runtime: Runtime, key: str, pool: WorkerPool) -> None:
    """Until the request under ``key`` has committed at least one batch."""
    await wait_for(
        lambda: batches(runtime, key),
        timeout_s=60,
        poll_s=0.01,
        what="the first committed batch",
        diagnostics=pool.logs,
    )


async def prepare_scenario(
    runtime: Runtime,
    clone_of_test_db: Callable[..., Awaitable[Runtime]],
    prefix: str,
    driver: HostDriver | None = None,
) -> tuple[Fleet, Runtime, str]:
    """Seed the fleet (through ``driver`` on a mapped host), clone it for the undisturbed
    run, and pick a fresh request key."""
    if driver is None:
        fleet = await seed_fleet(runtime.engine)
    else:
        fleet = Fleet(**await driver.seed_fleet())
        await driver.engine.dispose()  # cloning needs no open sessions on the database
    undisturbed = await clone_of_test_db(batch_size=int(BATCH_SIZE))
    return fleet, undisturbed, f"{prefix}-{uuid.uuid4()}"


async def run_undisturbed(clone: Runtime, fleet: Fleet, key: str) -> None:
    """The same request, start to finish in this process, then its fan-out."""
    payload = MigrateModelPayload(
        source=fleet.source,
        target=fleet.target,
        requested_by="faults",
        request_key=key,
        confirm_warnings=True,
    )
    result = await migrate_model(clone, payload)
    assert result.status == "succeeded"
    async with clone.engine.connect() as conn:
        events = list(
            await conn.scalars(text("SELECT id FROM lifecycle_events WHERE fanned_out_at IS NULL"))
        )
    for event_id in events:
        await fanout_event(clone, FanoutPayload(event_id=event_id))


async def wait_fanned_out(runtime: Runtime, pool: WorkerPool) -> None:
    """Until every outbox event (there is at least one) is fanned out."""

    async def done() -> bool:
        pending = await scalar(
            runtime,
            "SELECT count(*) FILTER (WHERE fanned_out_at IS NULL) = 0 AND count(*) > 0 "
            "FROM lifecycle_events",
        )
        return bool(pending)

    await wait_for(done, timeout_s=60, what="the event's fan-out", diagnostics=pool.logs)


async def assert_same_end_state(runtime: Runtime, clone: Runtime, *, mapped: bool = False) -> None:
    """Every table holds what the undisturbed run left (volatile columns aside); on a
    ``mapped`` host, the worker's tables and every table of the host's schema."""
    if mapped:
        mine, theirs = await _mapped_contents(runtime), await _mapped_contents(clone)
    else:
        mine, theirs = await table_contents(runtime.engine), await table_contents(clone.engine)
    assert sorted(mine) == sorted(theirs)
    for table in mine:
        assert mine[table] == theirs[table], f"{table} differs from the undisturbed run"


async def start_migration(client: LifecycleClient, fleet: Fleet, key: str) -> str:
    """Queue the fleet's migration under ``key``; returns the job id."""
    handle = await client.migrate_model(
        fleet.source, fleet.target, requested_by="faults", request_key=key, confirm_warnings=True
    )
    assert handle.created
    return handle.job_id


async def request_statuses(runtime: Runtime, key: str) -> str | None:
    """The statuses of every request row under ``key``, comma-separated."""
    return await scalar(
        runtime,
        "SELECT string_agg(status, ',') FROM model_migrations WHERE request_key = :k",
        k=key,
    )


async def _mapped_contents(runtime: Runtime) -> dict[str, list[str]]:
    worker = await table_contents(runtime.engine, worker_only=True)
    return {**worker, **await host_table_contents(runtime.engine)}
