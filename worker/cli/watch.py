"""Watching a queued job for a waiting command: is a worker there, has the job started."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from jobs.runtime import Runtime
from worker.cli.progress import JobDisplay
from worker.client import LifecycleClient
from worker.health import health_check_key
from worker.settings import redact_url

Progress = Callable[[Runtime], Awaitable[tuple[int, int] | None]]
POLL_S = 0.3
# A worker that is just starting writes its first heartbeat within a moment.
HEARTBEAT_GRACE_S = 2.0


class JobWatch:
    """Polls one job until it finishes, telling the operator when no worker is there."""

    def __init__(self, client: LifecycleClient, job_id: str, display: JobDisplay) -> None:
        self.client = client
        self.job_id = job_id
        self.display = display
        self.started = False
        self.no_worker = False

    async def worker_alive(self) -> bool:
        """Whether a worker heartbeat on this queue is live."""
        return bool(await self.client.redis.exists(health_check_key(self.client.settings)))

    async def until_finished(self, runtime: Runtime | None, progress: Progress | None) -> None:
        """Return once the job is complete (or its result is gone)."""
        loop = asyncio.get_running_loop()
        begun = loop.time()
        looked = False
        while True:
            state = await self.client.status(self.job_id)
            if state.status in ("in_progress", "complete") and not self.started:
                self.started = True
                if self.no_worker:
                    waited = loop.time() - begun
                    self.display.notice(f"a worker took job {self.job_id} after {waited:.0f}s")
            if state.status in ("complete", "not_found"):
                return
            if state.status == "in_progress":
                if runtime is not None and progress is not None:
                    step = await progress(runtime)
                    if step is not None:
                        self.display.rows(*step)
            elif not looked and loop.time() - begun >= HEARTBEAT_GRACE_S:
                looked = True
                if not await self.worker_alive():
                    self._say_no_worker()
            await asyncio.sleep(POLL_S)

    def _say_no_worker(self) -> None:
        self.no_worker = True
        settings = self.client.settings
        redis = redact_url(settings.redis_url.get_secret_value())
        self.display.notice(
            f"no live worker heartbeat on queue {settings.queue_name} ({redis}): job "
            f"{self.job_id} is queued and will run when a worker starts (`lifecycle worker`); "
            "waiting for it (Ctrl-C stops waiting, the job stays queued)"
        )
        self.display.waiting("queued, waiting for a worker")

    def timeout_message(self, timeout_s: float) -> str:
        """Why the wait ended: the job never started, or it is still running."""
        if not self.started:
            why = " (no live worker heartbeat)" if self.no_worker else ""
            return (
                f"job {self.job_id} queued, not started within {timeout_s:.0f}s: no worker "
                f"took it{why}; it stays queued and runs when a worker starts"
            )
        return (
            f"job {self.job_id} did not finish within {timeout_s:.0f}s (it keeps running; "
            "check `lifecycle health` and the job later)"
        )
