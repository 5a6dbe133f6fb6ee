"""A real worker on real Redis and PostgreSQL runs queued jobs and refuses bad ones."""

import asyncio
import pickle
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from arq.worker import Worker

from worker.app import make_worker
from worker.client import JobFailed, LifecycleClient
from worker.settings import Settings


async def test_enqueued_job_runs_and_returns_json_result(
    client: LifecycleClient, burst_worker: Callable[..., Worker]
) -> None:
    handle = await client.enqueue("ping", {"message": "hello"}, key=f"e2e-{uuid.uuid4()}")
    worker = burst_worker()
    await worker.main()
    await worker.run_check()
    result = await client.result(handle.job_id, timeout_s=5)
    assert result["message"] == "hello"
    assert result["job_id"] == handle.job_id
    assert result["postgres"]
    await worker.close()


async def test_same_key_runs_once_even_after_completion(
    client: LifecycleClient, burst_worker: Callable[..., Worker]
) -> None:
    key = f"once-{uuid.uuid4()}"
    await client.enqueue("ping", {}, key=key)
    worker = burst_worker()
    await worker.main()
    again = await client.enqueue("ping", {}, key=key)
    assert not again.created
    worker2 = burst_worker()
    await worker2.main()
    assert worker.jobs_complete + worker2.jobs_complete == 1
    await worker.close()
    await worker2.close()


class _Evil:
    """Unpickling this would create a file: proof of execution."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


async def test_pickled_job_is_refused_without_executing(
    client: LifecycleClient, burst_worker: Callable[..., Worker], tmp_path: Path
) -> None:
    marker = tmp_path / "executed"
    job_id = f"ping:pickled-{uuid.uuid4()}"
    payload = pickle.dumps({"t": 1, "f": "ping", "a": [_Evil(marker)], "k": {}, "et": 0})
    redis = client.redis
    await redis.set(f"arq:job:{job_id}", payload, px=60_000)
    await redis.zadd(client.settings.queue_name, {job_id: int(time.time() * 1000)})

    worker = burst_worker()
    await worker.main()
    assert not marker.exists(), "the pickled payload was executed"
    assert worker.jobs_failed == 1 and worker.jobs_complete == 0
    with pytest.raises(JobFailed, match="DeserializationError"):
        await client.result(job_id, timeout_s=5)
    await worker.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (({"message": 3},), "message: Input should be a valid string"),
        (({"nope": 1},), "nope: Extra inputs are not permitted"),
        (("not-an-object",), "payload must be a JSON object"),
        (({}, {}), "expected one JSON object"),
    ],
)
async def test_raw_malformed_payload_fails_once_without_retry(
    client: LifecycleClient,
    burst_worker: Callable[..., Worker],
    args: tuple[object, ...],
    message: str,
) -> None:
    job_id = f"ping:raw-{uuid.uuid4()}"
    await client.redis.enqueue_job("ping", *args, _job_id=job_id)
    worker = burst_worker()
    await worker.main()
    assert (worker.jobs_failed, worker.jobs_retried, worker.jobs_complete) == (1, 0, 0)
    with pytest.raises(JobFailed, match=message):
        await client.result(job_id, timeout_s=5)
    await worker.close()


async def test_unknown_job_name_fails(
    client: LifecycleClient, burst_worker: Callable[..., Worker]
) -> None:
    job_id = f"x:{uuid.uuid4()}"
    await client.redis.enqueue_job("drop_everything", {}, _job_id=job_id)
    worker = burst_worker()
    await worker.main()
    assert worker.jobs_failed == 1
    with pytest.raises(JobFailed, match="function 'drop_everything' not found"):
        await client.result(job_id, timeout_s=5)
    await worker.close()


async def test_closing_a_worker_while_a_job_finishes_completes_its_shutdown(
    e2e_settings: Settings, client: LifecycleClient
) -> None:
    """An embedding program (the benchmark, a test) closes a worker while a job is past its
    function but not yet done (ARQ still recording it): the close must not raise the
    cancellation, and must still clear the health key and close its pool (the last step,
    after the shutdown hook)."""
    finishing = asyncio.Event()

    async def after_job_end(ctx: dict[str, Any]) -> None:
        finishing.set()
        await asyncio.sleep(60)

    worker = make_worker(
        e2e_settings, poll_delay=0, handle_signals=False, cron_jobs=[], after_job_end=after_job_end
    )
    running = asyncio.create_task(worker.async_run())
    handle = await client.enqueue("ping", {}, key=f"close-{uuid.uuid4()}")
    await asyncio.wait_for(finishing.wait(), timeout=30)
    running.cancel()
    await worker.close()
    assert all(t.done() for t in worker.tasks.values())
    assert not await client.redis.exists(worker.health_check_key)
    assert worker._pool is None
    assert (await client.result(handle.job_id, timeout_s=5))["job_id"] == handle.job_id
