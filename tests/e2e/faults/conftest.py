"""Fixtures of the fault-injection suite: own Redis servers, worker pools, database clones."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from jobs.runtime import Runtime
from tests.e2e.faults.harness import LEASE_SECONDS, RedisServer, WorkerPool, clone_database
from tests.services import admin_connect, drop_database
from worker.app import build_runtime
from worker.devservices import with_database
from worker.settings import Settings


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server only this test uses (and may kill); stopped at the end."""
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def worker_pool(tmp_path: Path) -> Iterator[Callable[..., WorkerPool]]:
    """Factory: a pool of ``lifecycle worker`` processes on ``settings`` with a short lease."""
    pools: list[WorkerPool] = []

    def make(settings: Settings, **env: str) -> WorkerPool:
        log_dir = tmp_path / f"workers-{len(pools) + 1}"
        log_dir.mkdir()
        pool = WorkerPool(
            settings, log_dir, {"LIFECYCLE_JOB_LEASE_SECONDS": str(LEASE_SECONDS), **env}
        )
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.stop_all()


@pytest.fixture
async def clone_of_test_db(
    settings: Settings,
    database_url: str,
    runtime: Runtime,
    test_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Awaitable[Runtime]]]:
    """Factory: a copy of this test's database as it is now, with a runtime (settings
    overridden by keywords) on it."""
    made: list[tuple[str, Runtime]] = []

    async def make(**overrides: object) -> Runtime:
        source = urlsplit(database_url).path.lstrip("/")
        clone = f"{source}_c{uuid.uuid4().hex[:6]}"
        await runtime.engine.dispose()  # CREATE DATABASE … TEMPLATE needs no open sessions
        conn = await admin_connect(settings)
        try:
            await clone_database(conn, source, clone)
        finally:
            await conn.close()
        rt = build_runtime(
            test_settings(database_url=with_database(database_url, clone), **overrides)
        )
        made.append((clone, rt))
        return rt

    yield make
    for clone, rt in made:
        await rt.engine.dispose()
        await drop_database(settings, clone)
