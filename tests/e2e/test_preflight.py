"""Preflight from any language: a ``dry_run`` migrate/delete job, enqueued with plain Redis
commands as the README's JSON job format documents, answers with the verdict, codes and
exact per-team counts, and changes nothing."""

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from arq.worker import Worker
from redis.asyncio import Redis

from jobs.request_admission import Request
from jobs.request_execution import run_request
from jobs.runtime import Runtime
from tests.checksum import table_checksums
from tests.factories import Factory
from worker.settings import Settings


async def enqueue_raw(redis: Redis, queue: str, job: str, key: str, payload: Any) -> str:
    """The README's recipe: WATCH, EXISTS, MULTI, PSETEX, ZADD, EXEC."""
    job_id = f"{queue}:{job}:{key}"
    now = int(time.time() * 1000)
    body = json.dumps({"t": 1, "f": job, "a": [payload], "k": {}, "et": now})
    async with redis.pipeline(transaction=True) as pipe:
        await pipe.watch(f"arq:job:{job_id}")
        assert await pipe.exists(f"arq:job:{job_id}", f"arq:result:{job_id}") == 0
        pipe.multi()
        pipe.psetex(f"arq:job:{job_id}", 86_400_000, body)
        pipe.zadd(queue, {job_id: now})
        await pipe.execute()
    return job_id


async def raw_result(redis: Redis, job_id: str) -> dict[str, Any]:
    data = await redis.get(f"arq:result:{job_id}")
    assert data is not None, f"no result for {job_id}"
    result: dict[str, Any] = json.loads(data)
    return result


async def test_dry_run_jobs_answer_the_verdict_and_change_nothing(
    e2e_settings: Settings,
    burst_worker: Callable[..., Worker],
    factory: Factory,
    runtime: Runtime,
) -> None:
    acme, globex = await factory.team(), await factory.team()
    a = await factory.model("pre-a", token_limit=8000)
    await factory.model("pre-b", token_limit=4000)
    for team in (acme, acme, globex):
        await factory.assistant(team, a)
    await factory.app(globex, a)
    before = await table_checksums(runtime.engine)

    queue = e2e_settings.queue_name
    migrate = {
        "source": "openai:pre-a",
        "target": "openai:pre-b",
        "requested_by": "go-service",
        "request_key": "preflight-1",
        "confirm_warnings": False,
        "dry_run": True,
    }
    delete = {
        "model": "openai:pre-a",
        "replacement": None,
        "requested_by": "go-service",
        "request_key": "preflight-2",
        "dry_run": True,
    }
    redis = Redis.from_url(e2e_settings.redis_url.get_secret_value())
    try:
        ids = [
            await enqueue_raw(redis, queue, "migrate_model", "pf-1", migrate),
            await enqueue_raw(
                redis, queue, "migrate_model", "pf-2", {**migrate, "confirm_warnings": True}
            ),
            await enqueue_raw(redis, queue, "delete_model", "pf-3", delete),
        ]
        worker = burst_worker()
        await worker.main()
        await worker.run_check()
        await worker.close()
        refused, confirmed, deletion = [await raw_result(redis, i) for i in ids]
    finally:
        await redis.aclose()

    assert refused["s"] is True
    verdict = refused["r"]
    assert (verdict["status"], verdict["dry_run"]) == ("rejected", True)
    assert verdict["codes_by_kind"]["warnings"] == ["context_window_reduced"]
    assert verdict["plan"]["counts"] == {"assistants": 3, "apps": 1}
    assert verdict["plan"]["teams"] == {
        str(acme): {"assistants": 2},
        str(globex): {"assistants": 1, "apps": 1},
    }
    assert confirmed["r"]["status"] == "ok"
    assert deletion["r"]["status"] == "rejected"
    assert "replacement_required" in deletion["r"]["codes"]

    # Nothing changed, and no request row was left behind to block the source.
    assert await table_checksums(runtime.engine) == before
    request = Request("migration", "openai:pre-a", "openai:pre-b", "t", f"r-{uuid.uuid4()}", True)
    assert (await run_request(runtime, request)).counts == {"assistants": 3, "apps": 1}
