"""Fan-out through real workers on real Redis, and the ``notifications`` CLI in a subprocess."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

from arq.worker import Worker
from sqlalchemy import text

from db.queries.models import get_model
from jobs.events import Slug, emit_model_event, publish_events
from jobs.notifications import FanoutPayload, fanout_event
from jobs.runtime import Runtime
from tests.e2e.conftest import run_cli
from tests.factories import Factory
from worker.app import build_runtime
from worker.client import LifecycleClient
from worker.settings import Settings

# Job counts below are exact: keep the every-minute sweep cron out of these burst runs.
NO_CRONS: list[Any] = []


async def write_event(
    runtime: Runtime, slug: Slug, model_id: uuid.UUID, payload: dict[str, dict[str, int]]
) -> uuid.UUID:
    async with runtime.sessions() as session, session.begin():
        model = await get_model(session, model_id)
        assert model is not None
        event_id = await emit_model_event(
            session, slug, model, dedup_key=f"e2e:{uuid.uuid4()}", payload=payload
        )
    assert event_id is not None
    return event_id


async def notification_pairs(runtime: Runtime, event_id: uuid.UUID) -> list[tuple[Any, Any]]:
    async with runtime.engine.connect() as conn:
        result = await conn.execute(
            text("SELECT team_id, user_id FROM notifications WHERE event_id = :id"),
            {"id": event_id},
        )
        return sorted((r.team_id, r.user_id) for r in result)


async def is_fanned_out(runtime: Runtime, event_id: uuid.UUID) -> bool:
    async with runtime.engine.connect() as conn:
        value = await conn.scalar(
            text("SELECT fanned_out_at FROM lifecycle_events WHERE id = :id"), {"id": event_id}
        )
    return value is not None


async def test_sweep_job_recovers_an_event_that_was_never_enqueued(
    runtime: Runtime,
    factory: Factory,
    client: LifecycleClient,
    burst_worker: Callable[..., Worker],
) -> None:
    team = await factory.team()
    user = await factory.member(team)
    model = await factory.model()
    # Committed, then the process died before publish_events: only the outbox knows.
    event = await write_event(runtime, Slug.RETIRING, model, {str(team): {"assistants": 2}})
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE lifecycle_events SET created_at = now() - interval '2 minutes' "
                "WHERE id = :id"
            ),
            {"id": event},
        )

    await client.enqueue("sweep_outbox", {}, key=f"sweep-{uuid.uuid4()}")
    worker = burst_worker(cron_jobs=NO_CRONS)
    await worker.main()
    await worker.run_check()
    await worker.close()

    assert worker.jobs_complete == 2  # the sweep, then the fan-out it queued
    assert await notification_pairs(runtime, event) == [(team, user)]
    assert await is_fanned_out(runtime, event)
    result = await client.result(client.job_id("fanout_event", str(event)), timeout_s=5)
    assert (result["status"], result["notifications"]) == ("fanned_out", 1)


async def test_two_burst_workers_running_the_same_event_notify_once(
    runtime: Runtime,
    factory: Factory,
    client: LifecycleClient,
    e2e_settings: Settings,
    burst_worker: Callable[..., Worker],
) -> None:
    model = await factory.model()
    teams = [await factory.team() for _ in range(6)]
    expected = sorted([(t, await factory.member(t)) for t in teams for _ in range(2)])
    event = await write_event(runtime, Slug.DELETED, model, {str(t): {"apps": 1} for t in teams})
    publisher = build_runtime(e2e_settings, client.redis)
    try:
        await publish_events(publisher, [event])
        await publish_events(publisher, [event])  # same key: still one job
    finally:
        await publisher.engine.dispose()
    # A second job for the same event under another key, as after an expired result.
    await client.enqueue("fanout_event", {"event_id": str(event)}, key=f"again-{uuid.uuid4()}")
    assert await client.redis.zcard(e2e_settings.queue_name) == 2

    workers = [burst_worker(max_jobs=1, cron_jobs=NO_CRONS) for _ in range(2)]
    await asyncio.gather(*(w.main() for w in workers))
    for w in workers:
        await w.run_check()
        await w.close()

    assert sum(w.jobs_complete for w in workers) == 2
    assert await notification_pairs(runtime, event) == expected


async def test_client_fanout_helper_queues_once_per_event(
    runtime: Runtime,
    factory: Factory,
    client: LifecycleClient,
    burst_worker: Callable[..., Worker],
) -> None:
    team = await factory.team()
    user = await factory.member(team)
    event = await write_event(runtime, Slug.MIGRATED, await factory.model(), {str(team): {"x": 1}})

    first = await client.fanout_event(event)
    second = await client.fanout_event(str(event))

    expected = client.job_id("fanout_event", str(event))
    assert (first.job_id, first.created, second.created) == (expected, True, False)
    worker = burst_worker(cron_jobs=NO_CRONS)
    await worker.main()
    await worker.run_check()
    await worker.close()
    assert await notification_pairs(runtime, event) == [(team, user)]


async def test_cli_lists_notifications_by_team_and_model(
    runtime: Runtime, factory: Factory, e2e_settings: Settings
) -> None:
    red, blue = await factory.team("red"), await factory.team("blue")
    await factory.member(red, await factory.user("ops@red.test"))
    await factory.member(blue, await factory.user("ops@blue.test"))
    gone = await factory.model("old-model", "acme")
    event = await write_event(
        runtime, Slug.DELETED, gone, {str(red): {"assistants": 3, "pipelines": 1}}
    )
    other = await write_event(
        runtime, Slug.DEPRECATED, await factory.model(), {str(blue): {"apps": 1}}
    )
    for e in (event, other):
        await fanout_event(runtime, FanoutPayload(event_id=e))
    async with runtime.engine.begin() as conn:
        await conn.execute(text("DELETE FROM llm_models WHERE id = :id"), {"id": gone})

    listed = run_cli(e2e_settings, "notifications", "--model", "acme:old-model", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)["notifications"]
    assert (row["team_slug"], row["user_email"], row["level"]) == ("red", "ops@red.test", "warning")
    assert row["title"] == "acme:old-model was removed"
    assert row["data"]["counts"] == {"assistants": 3, "pipelines": 1}

    by_id = run_cli(e2e_settings, "notifications", "--model", str(gone), "--json")
    assert [r["event_id"] for r in json.loads(by_id.stdout)["notifications"]] == [str(event)]

    table = run_cli(e2e_settings, "notifications", "--team", "blue")
    assert table.returncode == 0, table.stderr
    assert "ops@blue.test" in table.stdout and "is deprecated" in table.stdout
    assert "ops@red.test" not in table.stdout

    none = run_cli(e2e_settings, "notifications", "--model", "acme:never-existed")
    assert (none.returncode, none.stdout.strip()) == (0, "no notifications")

    unknown = run_cli(e2e_settings, "notifications", "--team", "nobody", "--json")
    assert unknown.returncode == 2
    assert json.loads(unknown.stdout) == {"ok": False, "error": "no team with slug 'nobody'"}

    bad = run_cli(e2e_settings, "notifications", "--model", "not a model")
    assert bad.returncode == 2 and "provider:name" in bad.stderr
    assert run_cli(e2e_settings, "notifications", "--limit", "0").returncode == 2
