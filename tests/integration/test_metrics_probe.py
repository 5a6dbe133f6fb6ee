"""`/healthz` answers 503 naming what is down, and when the worker is not running."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from jobs.runtime import Runtime
from tests.receivers import free_port
from worker.metrics import WorkerMetrics
from worker.settings import Settings


async def test_probe_is_503_naming_an_unreachable_redis(
    runtime: Runtime, test_settings: Callable[..., Settings]
) -> None:
    settings = test_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    metrics = WorkerMetrics(settings)
    await metrics.start(runtime)
    try:
        status, body = await asyncio.to_thread(metrics.probe)
    finally:
        await metrics.stop()
    assert status == "503 Service Unavailable"
    assert body["healthy"] is False
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["postgres"] == {"ok": True, "detail": "reachable"}


async def test_probe_is_503_before_the_worker_started(settings: Settings) -> None:
    status, body = await asyncio.to_thread(WorkerMetrics(settings).probe)
    assert status == "503 Service Unavailable"
    assert "did not answer" in body["error"]
