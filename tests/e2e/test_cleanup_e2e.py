"""Cleanup through real workers and the CLI: the cron once per instant, catch-up once."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from arq.connections import ArqRedis, create_pool
from arq.utils import to_unix_ms
from arq.worker import Worker
from sqlalchemy import select

from db import models as m
from jobs.migration import run_request
from tests.conftest import PlatformUnderTest
from tests.e2e.conftest import run_cli
from tests.factories import Factory
from tests.platforms import REFERENCE, every_platform
from tests.platforms.lifecycle import deletion, rows
from worker.app import make_worker, redis_settings
from worker.client import LifecycleClient
from worker.serialization import deserialize, serialize
from worker.settings import Settings

JOB = "cleanup_retired_models"
CRON = f"cron:{JOB}"


def days_ago(n: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=n)


async def _pool(settings: Settings) -> ArqRedis:
    return await create_pool(
        redis_settings(settings),
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=settings.queue_name,
    )


async def _runs(factory: Factory) -> list[Any]:
    async with factory.engine.connect() as conn:
        result = await conn.execute(
            select(m.LifecycleRun)
            .where(m.LifecycleRun.job == JOB)
            .order_by(m.LifecycleRun.started_at)
        )
        return list(result)


async def _retired(factory: Factory, n: int) -> list[Any]:
    return [await factory.model(f"retired-{i}", deleted_at=days_ago(10 + i)) for i in range(n)]


async def test_two_workers_at_the_cron_instant_run_it_once(
    e2e_settings: Settings, factory: Factory, burst_worker: Callable[..., Worker]
) -> None:
    """Both workers reach the same Sunday 04:00 and enqueue the cron; it runs once.

    ARQ's cron (``unique=True``) names the job after its instant, so the second enqueue
    finds the job already there. Each worker's real ``run_cron`` is driven at the same
    instant — one computed by ARQ's own schedule from a random past moment, so the job id
    is new on every test run (ARQ job ids are global in Redis).
    """
    await factory.lifecycle_run(JOB, finished_ago=timedelta(hours=1))  # no catch-up now
    retired = await _retired(factory, 3)
    workers = [
        burst_worker(with_crons=True, redis_pool=await _pool(e2e_settings)) for _ in range(2)
    ]
    start = datetime.now(e2e_settings.zone) - timedelta(weeks=random.randint(1, 2_500))
    instants = []
    for worker in workers:
        for cron_job in worker.cron_jobs:
            if cron_job.name == CRON:
                cron_job.calculate_next(start)
                instants.append(cron_job.next_run)
    assert instants[0] == instants[1] and instants[0] is not None
    assert instants[0].astimezone(e2e_settings.zone).weekday() == 6

    await asyncio.gather(*(w.run_cron(instants[0], 0.5) for w in workers))

    queued = await workers[0].pool.zrange(e2e_settings.queue_name, 0, -1)
    assert queued == [f"{CRON}:{to_unix_ms(instants[0])}".encode()]
    later = datetime.now(e2e_settings.zone) + timedelta(days=7)
    for worker in workers:  # nothing else comes due while the workers run
        for cron_job in worker.cron_jobs:
            cron_job.next_run = later
    await asyncio.gather(*(w.main() for w in workers))
    assert sum(w.jobs_complete for w in workers) == 1
    assert sum(w.jobs_failed for w in workers) == 0
    for worker in workers:
        await worker.close()

    runs = [r for r in await _runs(factory) if r.trigger == "cron"]
    assert len(runs) == 1 and runs[0].status == "succeeded"
    assert {r["model_id"] for r in runs[0].summary["removed"]} == {str(i) for i in retired}


async def test_workers_starting_together_catch_up_once(
    e2e_settings: Settings, factory: Factory, burst_worker: Callable[..., Worker]
) -> None:
    await factory.lifecycle_run(JOB, finished_ago=timedelta(days=9))
    retired = await _retired(factory, 2)
    workers = [burst_worker(), burst_worker()]

    await asyncio.gather(*(w.main() for w in workers))
    for worker in workers:
        await worker.close()

    catch_up = [r for r in await _runs(factory) if r.trigger == "catch_up"]
    assert len(catch_up) == 1 and catch_up[0].status == "succeeded"
    assert {r["model_id"] for r in catch_up[0].summary["removed"]} == {str(i) for i in retired}

    again = burst_worker()  # the run is recent now: a later start does nothing
    await again.main()
    await again.close()
    assert len([r for r in await _runs(factory) if r.trigger == "catch_up"]) == 1


async def test_client_helper_queues_a_manual_run(
    client: LifecycleClient, factory: Factory, burst_worker: Callable[..., Worker]
) -> None:
    await factory.lifecycle_run(JOB, finished_ago=timedelta(hours=2))
    [model] = await _retired(factory, 1)
    handle = await client.cleanup_retired_models(dry_run=True)
    worker = burst_worker()
    await worker.main()
    await worker.close()

    result = await client.result(handle.job_id, timeout_s=10)
    assert (result["dry_run"], result["trigger"]) == (True, "manual")
    assert [r["model_id"] for r in result["removed"]] == [str(model)]
    assert await factory.count(m.LlmModel.__table__, m.LlmModel.id == model) == 1


async def test_cli_dry_run_in_process_then_real_run_through_a_worker(
    e2e_settings: Settings,
    factory: Factory,
    worker_process: Callable[..., subprocess.Popen[str]],
) -> None:
    await factory.lifecycle_run(JOB, finished_ago=timedelta(hours=3))
    team = await factory.team()
    gone = await factory.model("gpt-3", deleted_at=days_ago(20))
    kept = await factory.model("gpt-4", deleted_at=days_ago(10))
    await factory.question(team, kept)

    dry = await asyncio.to_thread(run_cli, e2e_settings, "cleanup", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    planned = json.loads(dry.stdout)
    assert planned["dry_run"] is True
    assert [r["name"] for r in planned["removed"]] == ["gpt-3"]
    assert await factory.count(m.LlmModel.__table__, m.LlmModel.id == gone) == 1

    worker_process()
    done = await asyncio.to_thread(run_cli, e2e_settings, "cleanup", "--timeout", "60")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("cleanup run ")
    assert "1 removed, 1 skipped, 0 errors, 0 deferred" in lines[0]
    assert any(line.split()[:2] == ["openai", "gpt-3"] for line in lines)
    assert any(line.split()[:2] == ["openai", "gpt-4"] and "questions" in line for line in lines)
    assert await factory.count(m.LlmModel.__table__, m.LlmModel.id == gone) == 0
    runs = await _runs(factory)
    assert [(r.trigger, r.dry_run) for r in runs[1:]] == [("manual", True), ("manual", False)]


@every_platform
async def test_a_worker_starting_on_a_mapped_host_reports_and_deletes_nothing(
    platform: PlatformUnderTest, redis_ready: None
) -> None:
    """A host's model retired before the worker was ever started: the start-up catch-up
    runs, and only the reference platform (default mode ``delete``) removes it; a mapped
    host (default ``report``) keeps it and the run names it."""
    driver = platform.driver
    model = await driver.model("xp-retired-before-install")
    result = await run_request(platform.runtime, deletion(model))
    assert result.status == "succeeded", result
    host = await driver.host_checksum()
    deletes = platform.name == REFERENCE

    # Retired long ago: no undo window keeps it (LIFECYCLE_UNDO_DAYS=0).
    worker = make_worker(
        platform.settings(undo_days=0),
        burst=True,
        poll_delay=0,
        handle_signals=False,
        cron_jobs=[],
    )
    await worker.main()
    await worker.close()

    [run] = await rows(platform.runtime, "SELECT trigger, dry_run, summary FROM lifecycle_runs")
    assert (run.trigger, run.dry_run) == ("catch_up", not deletes)
    assert run.summary["mode"] == ("delete" if deletes else "report")
    assert [str(r["model_id"]) for r in run.summary["removed"]] == [str(model)]
    assert await driver.model_exists(model) is not deletes
    if not deletes:
        assert await driver.host_checksum() == host
