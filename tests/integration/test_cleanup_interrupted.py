"""Cleanup runs a dead worker left ``running`` get a final status from the next run.

Found by the SIGKILL-mid-cleanup fault test: the killed try's run row stayed ``running``
forever while the next try, under the same ARQ job id, did the work.
"""

import dataclasses
from datetime import timedelta

from sqlalchemy import func, text

from db.queries.cleanup import CLEANUP_JOB
from jobs.cleanup import CleanupPayload, cleanup_retired_models
from jobs.runtime import Runtime
from tests.factories import Factory


async def _runs(runtime: Runtime) -> list[tuple[str, str | None, bool, bool]]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT status, job_id, finished_at IS NOT NULL AS finished, "
                "coalesce(summary->>'error', '') LIKE 'interrupted%' AS interrupted "
                "FROM lifecycle_runs ORDER BY started_at"
            )
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_earlier_try_of_the_same_job_is_closed(runtime: Runtime, factory: Factory) -> None:
    await factory.lifecycle_run(
        CLEANUP_JOB,
        status="running",
        finished_ago=None,
        job_id="job-1",
        started_at=func.now() - timedelta(seconds=30),
    )
    # Another job's run, recent: it may well be alive on another worker.
    await factory.lifecycle_run(
        CLEANUP_JOB,
        status="running",
        finished_ago=None,
        job_id="job-2",
        started_at=func.now() - timedelta(seconds=20),
    )
    retry = dataclasses.replace(runtime, job_id="job-1", job_try=2)
    await cleanup_retired_models(retry, CleanupPayload())
    assert await _runs(runtime) == [
        ("failed", "job-1", True, True),
        ("running", "job-2", False, False),
        ("succeeded", "job-1", True, False),
    ]


async def test_run_older_than_the_job_timeout_is_closed(runtime: Runtime, factory: Factory) -> None:
    await factory.lifecycle_run(
        CLEANUP_JOB,
        status="running",
        finished_ago=None,
        trigger="cron",
        job_id="cron-1",
        started_at=func.now() - timedelta(hours=2),
    )
    await cleanup_retired_models(runtime, CleanupPayload())
    assert await _runs(runtime) == [
        ("failed", "cron-1", True, True),
        ("succeeded", None, True, False),
    ]
