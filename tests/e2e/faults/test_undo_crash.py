"""An undo that a real worker process runs, SIGKILLed mid-way and taken over by another
worker: it resumes from its cursor and ends with every row put back once, the host's rows
as they were before the migration, on every platform."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import pytest

from db.keys import parse_host_id
from jobs.request_execution import run_request
from jobs.runtime import Runtime
from tests.e2e.faults.harness import Fleet, WorkerPool, seed_fleet, wait_for
from tests.e2e.faults.scenario import BATCH_SIZE, request_statuses, scalar
from tests.platforms import REFERENCE, every_platform
from tests.platforms.drivers import HostDriver
from tests.platforms.lifecycle import migration
from worker.client import LifecycleClient
from worker.settings import Settings

pytestmark = [pytest.mark.faults, every_platform]

# Undo batches of five rows with a pause between them: hundreds of batches, so a kill
# after the first lands mid-way.
SLOW_UNDO = {
    "LIFECYCLE_BATCH_SIZE": BATCH_SIZE,
    "LIFECYCLE_BATCH_MIN": BATCH_SIZE,
    "LIFECYCLE_BATCH_PAUSE_MS": "20",
}


async def host_rows(driver: HostDriver) -> dict[str, str]:
    """Every host table but the model table (whose update times move)."""
    return {t: s for t, s in (await driver.host_checksum()).items() if t != driver.model_table}


async def undo_state(runtime: Runtime, key: str) -> dict[str, Any]:
    progress = await scalar(
        runtime, "SELECT progress FROM model_migrations WHERE request_key = :k", k=key
    )
    return dict((progress or {}).get("undo") or {})


async def restored_so_far(runtime: Runtime, key: str) -> int:
    return sum((await undo_state(runtime, key)).get("restored", {}).values())


async def test_an_undo_killed_mid_way_resumes_and_puts_each_row_back_once(
    e2e_settings: Settings,
    client: LifecycleClient,
    runtime: Runtime,
    driver: HostDriver,
    platform_name: str,
    worker_pool: Callable[..., WorkerPool],
) -> None:
    if platform_name == REFERENCE:
        fleet = await seed_fleet(runtime.engine)
    else:
        fleet = Fleet(**await driver.seed_fleet())
    before = await host_rows(driver)
    request = migration(parse_host_id(fleet.source), parse_host_id(fleet.target))
    migrated = await run_request(runtime, request)
    assert migrated.status == "succeeded", migrated
    moved = migrated.counts
    assert sum(moved.values()) == fleet.live_rows

    pool = worker_pool(e2e_settings, **SLOW_UNDO)
    worker = pool.start()
    handle = await client.undo_request(request.request_key, requested_by="faults")
    await wait_for(
        lambda: restored_so_far(runtime, request.request_key),
        timeout_s=60,
        poll_s=0.01,
        what="the undo's first committed batch",
        diagnostics=pool.logs,
    )
    worker.signal(signal.SIGKILL)
    worker.wait(timeout=10)
    at_kill = await restored_so_far(runtime, request.request_key)
    assert 0 < at_kill < fleet.live_rows
    assert await request_statuses(runtime, request.request_key) == "succeeded"

    # Another worker takes the job over (its try was cut short) and carries on from the
    # cursor the last committed batch saved.
    pool.start()
    result = await client.result(handle.job_id, timeout_s=180)

    assert result["status"] == "undone", result
    assert (result["restored"], result["changed_since"]) == (moved, {})
    assert await host_rows(driver) == before
    assert await request_statuses(runtime, request.request_key) == "undone"
    audits = await scalar(
        runtime, "SELECT count(*) FROM audit_events WHERE action = 'model.request_undone'"
    )
    assert audits == 1
