"""Pause, resume and cancel a migration from the main application.

The controls read and write the worker's request rows, so the client needs the worker's
database (``LIFECYCLE_DATABASE_URL``) besides Redis.
"""

from __future__ import annotations

from typing import Any

from worker.client import LifecycleClient, RequestSummary


async def pilot_then_hold(client: LifecycleClient, request_key: str) -> dict[str, Any]:
    """Queue a migration, pause it after its current batch, look, then carry it on."""
    await client.migrate_model(
        "openai:gpt-4", "openai:gpt-4o", requested_by="ops", request_key=request_key
    )
    paused = await client.pause_request(request_key, requested_by="ops")
    print(f"paused after {paused['counts']} rows moved; changed: {paused['changed']}")
    resumed = await client.resume_request(request_key, requested_by="ops")
    result: dict[str, Any] = await client.result(resumed["job_id"], timeout_s=600)
    return result


async def stop_for_good(client: LifecycleClient, request_key: str) -> list[RequestSummary]:
    """Cancel a request (rows moved stay moved, the source stays live), then list the
    requests still active."""
    await client.cancel_request(request_key, requested_by="ops")
    return await client.requests(active=True)


async def take_it_back(client: LifecycleClient, request_key: str) -> dict[str, Any]:
    """Undo a finished request: the rows it changed that still hold what it wrote get
    their previous values back (``restored``); rows changed since are left and counted
    (``changed_since``). A refusal answers ``status: rejected`` with its code."""
    handle = await client.undo_request(request_key, requested_by="ops")
    result: dict[str, Any] = await client.result(handle.job_id, timeout_s=600)
    print(f"{result['status']}: restored {result['restored']}, left {result['changed_since']}")
    return result
