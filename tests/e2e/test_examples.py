"""The Python files under examples/ that the docs point at run against a real worker."""

import asyncio
import uuid
from collections.abc import Callable

from arq.worker import Worker

from examples.client_usage import queue_migration, wait_for
from examples.web_handlers import delete_model_sync, lifecycle_client, migrate_endpoint
from tests.factories import Factory
from worker.client import LifecycleClient
from worker.settings import Settings


async def test_client_usage_example_migrates_on_a_real_worker(
    client: LifecycleClient, burst_worker: Callable[..., Worker], factory: Factory
) -> None:
    team = await factory.team()
    source = await factory.model("example-a")
    await factory.model("example-b")
    await factory.assistant(team, source)
    handle = await queue_migration(client, "openai:example-a", "openai:example-b", "ex-1")
    worker = burst_worker()
    await worker.main()
    await worker.run_check()
    result = await wait_for(client, handle)
    assert (result["status"], result["counts"]) == ("succeeded", {"assistants": 1})
    await worker.close()


async def test_web_handler_examples_queue_through_one_client(
    e2e_settings: Settings, burst_worker: Callable[..., Worker], factory: Factory
) -> None:
    team = await factory.team()
    a, b = await factory.model("web-a"), await factory.model("web-b")
    old = await factory.model("web-old")
    await factory.assistant(team, a)
    await factory.app(team, old)
    async with lifecycle_client(e2e_settings) as client:
        answer = await migrate_endpoint(client, str(a), str(b), f"web-{uuid.uuid4()}")
        assert answer["queued"] is True
        # A sync view runs outside the event loop, as under WSGI.
        deletion = await asyncio.to_thread(
            delete_model_sync, "openai:web-old", None, f"del-{uuid.uuid4()}", e2e_settings
        )
        worker = burst_worker()
        await worker.main()
        await worker.run_check()
        migrated = await client.result(str(answer["job_id"]), timeout_s=5)
        deleted = await client.result(deletion, timeout_s=5)
    assert (migrated["status"], migrated["counts"]) == ("succeeded", {"assistants": 1})
    assert (deleted["status"], deleted["counts"]) == ("succeeded", {"apps": 1})
    await worker.close()
