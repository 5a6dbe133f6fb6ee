"""Pause, resume and cancel a migration that a real worker process is running, also with
the worker SIGKILLed while the request is paused or while a cancel waits for its batch.

The end state of a paused-and-resumed request is the one an undisturbed run leaves: the
cursor carried on without moving a row twice or leaving one for the final sweep.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, text

from db.keys import parse_host_id
from db.models import LlmModel
from jobs.runtime import Runtime
from tests.e2e.conftest import LIFECYCLE, cli_env, run_cli
from tests.e2e.faults.harness import Fleet, WorkerPool, WorkerProcess, wait_for
from tests.e2e.faults.scenario import (
    BATCH_SIZE,
    assert_same_end_state,
    prepare_scenario,
    request_statuses,
    run_undisturbed,
    scalar,
    start_migration,
    wait_fanned_out,
    wait_first_batch,
)
from tests.platforms import REFERENCE, every_platform
from tests.platforms.drivers import HostDriver
from tests.platforms.lifecycle import model_state
from worker.client import LifecycleClient
from worker.settings import Settings

pytestmark = [pytest.mark.faults, every_platform]

# Batches of five rows with a pause between them: the fleet's 2,000-odd rows take
# hundreds of batches, so a control issued after the first lands mid-run.
SLOW_RUN = {
    "LIFECYCLE_BATCH_SIZE": BATCH_SIZE,
    "LIFECYCLE_BATCH_MIN": BATCH_SIZE,
    "LIFECYCLE_BATCH_PAUSE_MS": "20",
}


@dataclass(frozen=True)
class SlowRun:
    """A fleet's migration that a real worker process runs in small, spaced batches,
    with its first batch committed, and an undisturbed clone to compare against."""

    fleet: Fleet
    undisturbed: Runtime
    key: str
    pool: WorkerPool
    worker: WorkerProcess
    job_id: str
    mapped: bool


@pytest.fixture
def start_slow_run(
    e2e_settings: Settings,
    client: LifecycleClient,
    runtime: Runtime,
    worker_pool: Callable[..., WorkerPool],
    clone_of_test_db: Callable[..., Awaitable[Runtime]],
    platform_name: str,
    driver: HostDriver,
) -> Callable[[str], Awaitable[SlowRun]]:
    """Factory: start a :class:`SlowRun` under a key starting with the given prefix."""

    async def start(prefix: str) -> SlowRun:
        mapped = platform_name != REFERENCE
        fleet, undisturbed, key = await prepare_scenario(
            runtime, clone_of_test_db, prefix, driver if mapped else None
        )
        pool = worker_pool(e2e_settings, **SLOW_RUN)
        worker = pool.start()
        job_id = await start_migration(client, fleet, key)
        await wait_first_batch(runtime, key, pool)
        return SlowRun(fleet, undisturbed, key, pool, worker, job_id, mapped)

    return start


async def moved_rows(runtime: Runtime, key: str) -> int:
    """Rows the request's committed batches moved."""
    return int(
        await scalar(
            runtime,
            "SELECT COALESCE(sum(b.rows), 0) FROM model_migration_batches b "
            "JOIN model_migrations m ON m.id = b.migration_id WHERE m.request_key = :k",
            k=key,
        )
    )


async def progress(runtime: Runtime, key: str) -> dict[str, Any]:
    return dict(
        await scalar(runtime, "SELECT progress FROM model_migrations WHERE request_key = :k", k=key)
    )


async def rows_done(runtime: Runtime, key: str) -> int:
    """Rows done as the request's progress rows count them, over every reference."""
    return int(
        await scalar(
            runtime,
            "SELECT COALESCE(sum(p.done), 0) FROM model_migration_progress p "
            "JOIN model_migrations m ON m.id = p.migration_id WHERE m.request_key = :k",
            k=key,
        )
    )


async def take_control_audit(runtime: Runtime, key: str) -> list[tuple[str, str]]:
    """The pause/resume/cancel audit records of ``key`` (removed, so that the end state
    compares with an undisturbed run that had none)."""
    async with runtime.engine.begin() as conn:
        found = await conn.execute(
            text(
                "DELETE FROM audit_events WHERE action LIKE 'request.%' "
                "AND details ->> 'request_key' = :k RETURNING action, actor"
            ),
            {"k": key},
        )
        return sorted((r.action, r.actor) for r in found)


async def resume_and_finish(e2e_settings: Settings, client: LifecycleClient, key: str) -> None:
    resumed = run_cli(e2e_settings, "requests", "resume", key, "--json")
    assert resumed.returncode == 0, resumed.stderr
    answer = json.loads(resumed.stdout)
    assert (answer["status"], answer["changed"]) == ("pending", True)
    result = await client.result(answer["job_id"], timeout_s=180)
    assert result["status"] == "succeeded", result


async def finish_like_undisturbed(runtime: Runtime, run: SlowRun, pool: WorkerPool) -> None:
    """Every row moved once, by the batches (none left to the final sweep), and the end
    state is the undisturbed run's."""
    fleet, key = run.fleet, run.key
    assert (await progress(runtime, key))["swept"] == 0
    assert await rows_done(runtime, key) == fleet.live_rows == await moved_rows(runtime, key)
    await wait_fanned_out(runtime, pool)
    await run_undisturbed(run.undisturbed, fleet, key)
    await assert_same_end_state(runtime, run.undisturbed, mapped=run.mapped)


async def test_pause_then_resume_with_a_real_worker_moves_each_row_once(
    e2e_settings: Settings,
    client: LifecycleClient,
    runtime: Runtime,
    start_slow_run: Callable[[str], Awaitable[SlowRun]],
) -> None:
    run = await start_slow_run("pause")
    fleet, key, pool, job_id = run.fleet, run.key, run.pool, run.job_id

    paused = run_cli(e2e_settings, "requests", "pause", key, "--requested-by", "ops")
    assert paused.returncode == 0, paused.stderr
    at_pause = await moved_rows(runtime, key)
    assert paused.stdout.startswith(f"request {key} paused ({at_pause} rows moved)")
    assert await request_statuses(runtime, key) == "paused"
    # The job ends with the request paused, and no row moves after the pause.
    result = await client.result(job_id, timeout_s=60)
    assert (result["status"], sum(result["counts"].values())) == ("paused", at_pause)
    assert 0 < at_pause < fleet.live_rows
    assert await moved_rows(runtime, key) == at_pause

    listed = run_cli(e2e_settings, "requests", "--active", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["request_key"], row["status"], row["teams"]) == (key, "paused", None)
    assert (row["done"], row["planned"], row["eta_s"]) == (at_pause, fleet.live_rows, None)
    # A paused request holds its source: another request for it is refused.
    other = run_cli(e2e_settings, "migrate", fleet.source, fleet.spare, "--dry-run", "--json")
    assert other.returncode == 1
    assert "migration_in_progress" in json.loads(other.stdout)["codes"]

    await resume_and_finish(e2e_settings, client, key)
    assert await take_control_audit(runtime, key) == [
        ("request.paused", "ops"),
        ("request.resumed", f"cli:{getpass.getuser()}"),
    ]
    await finish_like_undisturbed(runtime, run, pool)


async def test_cancel_with_a_real_worker_keeps_moved_rows_and_frees_the_source(
    e2e_settings: Settings,
    client: LifecycleClient,
    runtime: Runtime,
    driver: HostDriver,
    start_slow_run: Callable[[str], Awaitable[SlowRun]],
) -> None:
    run = await start_slow_run("cancel")
    fleet, key, job_id = run.fleet, run.key, run.job_id

    cancelled = run_cli(e2e_settings, "requests", "cancel", key)
    assert cancelled.returncode == 0, cancelled.stderr
    moved = await moved_rows(runtime, key)
    assert cancelled.stdout.startswith(f"request {key} cancelled ({moved} rows moved)")
    result = await client.result(job_id, timeout_s=60)
    assert (result["status"], sum(result["counts"].values())) == ("cancelled", moved)
    await assert_cancelled_mid_run(runtime, driver, fleet, key, moved)
    # Cancelled is final: no control brings it back, and a re-run of its key moves nothing.
    for control, refusal in (
        (
            "pause",
            f"request_not_active: request {key} is cancelled: only a pending or "
            "running request can be paused",
        ),
        (
            "resume",
            f"request_not_paused: request {key} is cancelled: only a paused request can be resumed",
        ),
        ("cancel", None),
    ):
        done = run_cli(e2e_settings, "requests", control, key)
        if refusal is None:
            assert done.returncode == 0 and "was already cancelled" in done.stdout
        else:
            assert (done.returncode, done.stderr) == (1, f"lifecycle: error: {refusal}\n")
    missing = run_cli(e2e_settings, "requests", "pause", "no-such-key")
    assert missing.returncode == 1
    assert "request_not_found: no request 'no-such-key' is recorded" in missing.stderr
    await assert_source_free(e2e_settings, client, runtime, driver, fleet, moved)


async def assert_cancelled_mid_run(
    runtime: Runtime, driver: HostDriver, fleet: Fleet, key: str, moved: int
) -> None:
    """Rows moved stay moved, the rest stay on the source, which stays live."""
    source, target = parse_host_id(fleet.source), parse_host_id(fleet.target)
    assert 0 < moved < fleet.live_rows
    assert await moved_rows(runtime, key) == moved
    assert await request_statuses(runtime, key) == "cancelled"
    assert sum((await driver.live_counts(target)).values()) == moved
    assert sum((await driver.live_counts(source)).values()) == fleet.live_rows - moved
    state = await model_state(runtime, source)
    assert state.migrated_to_model_id is None and state.deleted_at is None


async def assert_source_free(
    e2e_settings: Settings,
    client: LifecycleClient,
    runtime: Runtime,
    driver: HostDriver,
    fleet: Fleet,
    moved: int,
) -> None:
    """A new request for the source is admitted and moves exactly the rows left."""
    again = run_cli(
        e2e_settings, "migrate", fleet.source, fleet.target, "--confirm-warnings", "--json"
    )
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert sum(result["counts"].values()) == fleet.live_rows - moved
    assert await driver.live_counts(parse_host_id(fleet.source)) == {}
    assert sum((await driver.live_counts(parse_host_id(fleet.target))).values()) == fleet.live_rows
    listed = run_cli(e2e_settings, "requests", "--json")
    assert [r["status"] for r in json.loads(listed.stdout)] == ["succeeded", "cancelled"]


async def test_sigkill_while_paused_then_resume_moves_each_row_once(
    e2e_settings: Settings,
    client: LifecycleClient,
    runtime: Runtime,
    start_slow_run: Callable[[str], Awaitable[SlowRun]],
) -> None:
    run = await start_slow_run("killpaused")
    fleet, key, pool, job_id = run.fleet, run.key, run.pool, run.job_id
    paused = await client.pause_request(key, requested_by="ops")
    run.worker.signal(signal.SIGKILL)
    run.worker.wait(timeout=10)
    at_pause = await moved_rows(runtime, key)
    assert paused["status"] == "paused" and 0 < at_pause < fleet.live_rows

    # Another worker takes over whatever the killed one left (a try cut short is run
    # again): the request stays paused and nothing moves until it is resumed.
    pool.start()
    result = await client.result(job_id, timeout_s=60)
    assert result["status"] == "paused"
    assert await request_statuses(runtime, key) == "paused"
    assert await moved_rows(runtime, key) == at_pause

    await resume_and_finish(e2e_settings, client, key)
    assert [a for a, _ in await take_control_audit(runtime, key)] == [
        "request.paused",
        "request.resumed",
    ]
    await finish_like_undisturbed(runtime, run, pool)


async def test_sigkill_while_cancelling_leaves_the_batch_in_flight_unmoved(
    e2e_settings: Settings,
    client: LifecycleClient,
    runtime: Runtime,
    driver: HostDriver,
    start_slow_run: Callable[[str], Awaitable[SlowRun]],
) -> None:
    run = await start_slow_run("killcancel")
    fleet, key, pool, job_id = run.fleet, run.key, run.pool, run.job_id

    # Hold the target model's row: the next batch locks the request row, then waits here
    # (the main application's write protocol takes the same lock).
    async with runtime.sessions() as holder, holder.begin():
        target = parse_host_id(fleet.target)
        await holder.execute(select(LlmModel.id).where(LlmModel.id == target).with_for_update())
        await wait_for(lambda: waiting_on_locks(runtime, 1), timeout_s=60, what="a batch waiting")
        before = await moved_rows(runtime, key)
        cancel = await asyncio.create_subprocess_exec(
            LIFECYCLE,
            "requests",
            "cancel",
            key,
            env=cli_env(e2e_settings),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            # The cancel waits for the batch in flight.
            await wait_for(
                lambda: waiting_on_locks(runtime, 2), timeout_s=60, what="the cancel waiting"
            )
            assert await request_statuses(runtime, key) == "running"
            run.worker.signal(signal.SIGKILL)
            run.worker.wait(timeout=10)
        except BaseException:
            cancel.kill()
            raise
    async with asyncio.timeout(60):
        out, err = (b.decode() for b in await cancel.communicate())
    assert cancel.returncode == 0, err
    # The killed batch never committed: the cancel counts the rows moved before it.
    assert out.startswith(f"request {key} cancelled ({before} rows moved)")

    pool.start()
    result = await client.result(job_id, timeout_s=60)
    assert result["status"] == "cancelled"
    await assert_cancelled_mid_run(runtime, driver, fleet, key, before)
    await assert_source_free(e2e_settings, client, runtime, driver, fleet, before)


async def waiting_on_locks(runtime: Runtime, n: int) -> bool:
    """Whether at least ``n`` other sessions on the test's database wait for a lock."""
    waiting = await scalar(
        runtime,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'",
    )
    return int(waiting) >= n
