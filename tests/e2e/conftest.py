"""End-to-end helpers: real Redis, real workers (in-process or as CLI subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from arq.worker import Worker

from worker.app import make_worker
from worker.client import LifecycleClient
from worker.settings import Settings

LIFECYCLE = str(Path(sys.executable).parent / "lifecycle")


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for a CLI subprocess pointed at ``settings``' database, queue and
    platform mapping."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    env.update(
        LIFECYCLE_DATABASE_URL=settings.database_url.get_secret_value(),
        LIFECYCLE_REDIS_URL=settings.redis_url.get_secret_value(),
        LIFECYCLE_QUEUE_NAME=settings.queue_name,
        LIFECYCLE_HEALTH_CHECK_INTERVAL_SECONDS="1",
    )
    if settings.platform_file is not None:
        env["LIFECYCLE_PLATFORM_FILE"] = str(settings.platform_file)
    env.update(extra)
    return env


def run_cli(
    settings: Settings, *args: str, timeout: float = 60, **extra: str
) -> subprocess.CompletedProcess[str]:
    """Run ``lifecycle ARGS`` in a subprocess and capture its output."""
    return subprocess.run(
        [LIFECYCLE, *args],
        env=cli_env(settings, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def e2e_settings(test_settings: Callable[..., Settings], redis_ready: None) -> Settings:
    return test_settings(health_check_interval_seconds=1)


@pytest.fixture
async def client(e2e_settings: Settings) -> AsyncIterator[LifecycleClient]:
    async with LifecycleClient(e2e_settings) as c:
        yield c
        await c.redis.delete(e2e_settings.queue_name)


@pytest.fixture
def burst_worker(e2e_settings: Settings) -> Callable[..., Worker]:
    """Factory: a real ARQ worker in burst mode with no polling delay.

    Cron jobs are left out unless ``with_crons=True``: arq runs a cron that falls due during
    a burst, and the every-minute outbox sweep would then add a job to the counts a test
    asserts whenever the run crosses a minute boundary.
    """

    def make(*, with_crons: bool = False, **overrides: Any) -> Worker:
        if not with_crons:
            overrides.setdefault("cron_jobs", [])
        return make_worker(
            e2e_settings, burst=True, poll_delay=0, handle_signals=False, **overrides
        )

    return make


@pytest.fixture
def worker_process(e2e_settings: Settings) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Factory: ``lifecycle worker`` subprocesses, terminated at the end of the test."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str, **extra: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [LIFECYCLE, "worker", *args],
            env=cli_env(e2e_settings, **extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
