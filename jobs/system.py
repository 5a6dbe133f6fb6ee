"""Jobs about the worker itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from jobs.runtime import Runtime
from jobs.spec import JobSpec, Payload


class PingPayload(Payload):
    message: str = "ping"


async def ping(runtime: Runtime, payload: PingPayload) -> dict[str, Any]:
    """Round-trip through Redis and PostgreSQL; used by smoke tests and operators."""
    async with runtime.sessions() as session:
        server_version = await session.scalar(text("SHOW server_version"))
    return {"message": payload.message, "postgres": server_version, "job_id": runtime.job_id}


JOBS = (JobSpec("ping", PingPayload, ping),)
