"""Request keys and spent tries through the client, a real worker, the CLI and health."""

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from arq.worker import Worker
from sqlalchemy import func

from db import models as m
from jobs.runtime import Runtime
from tests.checksum import table_checksums
from tests.e2e.conftest import run_cli
from tests.factories import Factory
from worker.client import ClientError, JobFailed, LifecycleClient
from worker.health import check_health
from worker.settings import Settings


async def _run_queue(burst_worker: Callable[..., Worker]) -> Worker:
    worker = burst_worker()
    try:
        await worker.main()
    finally:
        await worker.close()
    return worker


async def test_a_succeeded_key_reused_for_another_target_is_refused_everywhere(
    e2e_settings: Settings,
    client: LifecycleClient,
    burst_worker: Callable[..., Worker],
    factory: Factory,
    runtime: Runtime,
) -> None:
    team = await factory.team()
    a, b, c = [await factory.model(name) for name in ("key-a", "key-b", "key-c")]
    await factory.app(team, a)
    key = f"reused-{uuid.uuid4()}"
    handle = await client.migrate_model(str(a), str(b), requested_by="e2e", request_key=key)
    await _run_queue(burst_worker)
    assert (await client.result(handle.job_id, timeout_s=5))["status"] == "succeeded"
    before = await table_checksums(runtime.engine)

    with pytest.raises(ClientError, match=f"request_key_conflict: request key '{key}'"):
        await client.migrate_model(str(a), str(c), requested_by="e2e", request_key=key)
    # The same request (ids in any case) still answers with its recorded result.
    again = await client.migrate_model(
        str(a).upper(), str(b).upper(), requested_by="e2e", request_key=key
    )
    assert not again.created
    done = run_cli(e2e_settings, "migrate", str(a), str(c), "--request-key", key)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "request_key_conflict" in done.stderr and key in done.stderr

    assert await table_checksums(runtime.engine) == before
    assert await client.redis.zcard(e2e_settings.queue_name) == 0


async def test_a_failed_key_reused_for_another_target_fails_its_job_and_changes_nothing(
    client: LifecycleClient,
    burst_worker: Callable[..., Worker],
    factory: Factory,
    runtime: Runtime,
) -> None:
    """No job result to compare with (it expired): the worker refuses it from the row."""
    team = await factory.team()
    a, b, c = [await factory.model(name) for name in ("fk-a", "fk-b", "fk-c")]
    await factory.app(team, a)
    key = f"failed-{uuid.uuid4()}"
    await factory.model_migration_row(a, b, status="failed", request_key=key)
    before = await table_checksums(runtime.engine)

    handle = await client.migrate_model(str(a), str(c), requested_by="e2e", request_key=key)
    worker = await _run_queue(burst_worker)

    assert (worker.jobs_failed, worker.jobs_retried) == (1, 0)
    with pytest.raises(JobFailed, match=f"request_key_conflict: request_key '{key}'"):
        await client.result(handle.job_id, timeout_s=5)
    assert await table_checksums(runtime.engine) == before


async def test_spent_tries_close_the_request_as_failed_and_health_reports_none_stuck(
    e2e_settings: Settings,
    client: LifecycleClient,
    burst_worker: Callable[..., Worker],
    factory: Factory,
) -> None:
    """The tries a crashing worker used up: the try after the last closes the request."""
    team = await factory.team()
    a, b = await factory.model("spent-a"), await factory.model("spent-b")
    await factory.app(team, a)
    key = f"spent-{uuid.uuid4()}"
    # What the crashed tries left: a running request, its job on its last try but one.
    await factory.model_migration_row(a, b, status="running", request_key=key)
    payload = {
        "source": str(a),
        "target": str(b),
        "requested_by": "e2e",
        "request_key": key,
        "confirm_warnings": False,
    }
    job_id = client.job_id("migrate_model", key)
    await client.redis.enqueue_job(
        "migrate_model", payload, _job_id=job_id, _job_try=e2e_settings.max_tries + 1
    )

    worker = await _run_queue(burst_worker)

    assert (worker.jobs_failed, worker.jobs_complete) == (1, 0)
    with pytest.raises(JobFailed, match="gave up after"):
        await client.result(job_id, timeout_s=5)
    row = await factory.request(key)
    assert row.status == "failed" and row.error.startswith("interrupted")
    requests = {c.name: c for c in (await check_health(e2e_settings)).checks}["requests"]
    assert requests.ok, requests


async def test_health_reports_a_request_stuck_without_progress(
    e2e_settings: Settings, factory: Factory
) -> None:
    a, b = await factory.model("stuck-a"), await factory.model("stuck-b")
    stale = timedelta(seconds=e2e_settings.job_timeout_seconds + 3600)
    await factory.model_migration_row(
        a,
        b,
        status="running",
        request_key="stuck-key",
        created_at=func.now() - stale,
        started_at=func.now() - stale,
    )
    await factory.model_migration_row(a, b, status="failed", request_key="recent-key")

    report = await check_health(e2e_settings)

    requests = {c.name: c for c in report.checks}["requests"]
    assert not requests.ok and requests.data == {"stuck": ["stuck-key"]}
    assert "requests" in report.failing()
    done = run_cli(e2e_settings, "health")
    assert done.returncode == 1 and "stuck-key" in done.stdout
    assert await factory.count(m.ModelMigration.__table__) == 2
