"""The main application's admin endpoints, as plain functions any web framework calls.

Async frameworks (FastAPI, Starlette, aiohttp) hold one client for the application's
lifetime: open :func:`lifecycle_client` in the app's ``lifespan`` and keep the client on
the app's state. A sync view (Django under WSGI) has no event loop running, so it runs the
coroutine with :func:`asyncio.run`, as :func:`delete_model_sync` does; under ASGI, use
``asgiref.sync.async_to_sync`` instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from worker.client import LifecycleClient
from worker.settings import Settings


@asynccontextmanager
async def lifecycle_client(settings: Settings | None = None) -> AsyncIterator[LifecycleClient]:
    """One Redis pool for the application's lifetime."""
    async with LifecycleClient.from_settings(settings) as client:
        yield client


async def migrate_endpoint(
    client: LifecycleClient, source: str, target: str, request_key: str
) -> dict[str, object]:
    """``POST /admin/models/{source}/migrate/{target}``: queue, answer at once."""
    handle = await client.migrate_model(
        source, target, requested_by="admin-ui", request_key=request_key
    )
    return {"job_id": handle.job_id, "queued": handle.created}


async def _delete(
    settings: Settings | None, model: str, replacement: str | None, request_key: str
) -> str:
    async with lifecycle_client(settings) as client:
        handle = await client.delete_model(
            model, replacement, requested_by="django-admin", request_key=request_key
        )
        return handle.job_id


def delete_model_sync(
    model: str, replacement: str | None, request_key: str, settings: Settings | None = None
) -> str:
    """From a sync view: queue ``delete_model`` and return its job id."""
    return asyncio.run(_delete(settings, model, replacement, request_key))
