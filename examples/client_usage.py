"""Queue a migration from the main application and wait for its result.

Any async framework: open one :class:`LifecycleClient` (one Redis pool) and call its
helpers. Run it as a script with the ``LIFECYCLE_*`` settings of your worker::

    python -m examples.client_usage openai:gpt-4 openai:gpt-4o migrate-gpt-4-2026-11
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from worker.client import JobHandle, LifecycleClient


async def queue_migration(
    client: LifecycleClient, source: str, target: str, request_key: str
) -> JobHandle:
    """Queue ``migrate_model``; the same ``request_key`` never queues it twice."""
    return await client.migrate_model(
        source,
        target,
        requested_by="admin@example.com",
        request_key=request_key,
        confirm_warnings=True,
    )


async def wait_for(client: LifecycleClient, handle: JobHandle) -> dict[str, Any]:
    """The job's state now, then its result once a worker ran it (``JobFailed`` if it
    failed)."""
    state = await client.status(handle.job_id)  # queued / in_progress / complete
    print(f"job {handle.job_id}: {state.status}")
    result: dict[str, Any] = await client.result(handle.job_id, timeout_s=600)
    return result


async def main(source: str, target: str, request_key: str) -> None:
    async with LifecycleClient.from_settings() as client:  # or .from_url("redis://…")
        handle = await queue_migration(client, source, target, request_key)
        result = await wait_for(client, handle)
        print(result["status"], result["counts"])


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
