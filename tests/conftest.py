"""Fixtures shared by every test layer. Fixtures are factories where a test needs several."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from jobs.runtime import Runtime
from tests.platforms import JOINED_PROVIDER, REFERENCE, HostPlatform, mapped_platform, seed_sql
from tests.platforms.drivers import DRIVERS, HostDriver
from tests.services import (
    adopt_host,
    base_settings,
    create_test_database,
    drop_database,
    ensure_host_template,
    ensure_template,
    require_redis,
)
from worker.app import build_runtime
from worker.devservices import with_database
from worker.health import asyncpg_dsn
from worker.settings import Settings, load_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return base_settings()


@pytest.fixture(scope="session")
async def template_db(settings: Settings) -> str:
    return await ensure_template(settings)


@pytest.fixture
def platform_name() -> str:
    """The host platform a test runs on: the reference platform unless the test is
    parametrized over ``PLATFORM_NAMES`` (see ``every_platform``)."""
    return REFERENCE


@pytest.fixture
async def database_url(
    settings: Settings, template_db: str, platform_name: str
) -> AsyncIterator[str]:
    """A fresh database cloned from the platform's template, dropped afterwards.

    Reference platform: the migrated template. A mapped host: its schema and seed with the
    worker's schema built for its mapping.
    """
    host = mapped_platform(platform_name)
    template = template_db if host is None else await ensure_host_template(settings, host)
    name = await create_test_database(settings, template)
    try:
        yield with_database(settings.database_url.get_secret_value(), name)
    finally:
        await drop_database(settings, name)


@pytest.fixture
async def host_database(settings: Settings) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Factory: a fresh database holding a mapped host's schema and seed rows (its URL)."""
    made: list[str] = []

    async def make(platform: HostPlatform, *, seed: bool = True) -> str:
        name = await create_test_database(settings, None, prefix="h")
        made.append(name)
        url = with_database(settings.database_url.get_secret_value(), name)
        conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
        try:
            await conn.execute(platform.schema_sql.read_text())
            if seed:
                await conn.execute(seed_sql(platform).read_text())
        finally:
            await conn.close()
        return url

    yield make
    for name in made:
        await drop_database(settings, name)


@pytest.fixture
async def joined_provider(
    settings: Settings, host_database: Callable[..., Awaitable[str]]
) -> Settings:
    """Settings on a fresh joined-provider host whose mapping passed ``platform check``
    and whose worker schema ``db upgrade`` built (the host's tables start empty)."""
    url = await host_database(JOINED_PROVIDER, seed=False)
    made = load_settings(
        {},
        database_url=url,
        redis_url=settings.redis_url.get_secret_value(),
        queue_name=f"lifecycle-test:{uuid.uuid4().hex[:10]}",
        platform_file=JOINED_PROVIDER.mapping,
    )
    await adopt_host(url, JOINED_PROVIDER)
    return made


@pytest.fixture
def test_settings(
    settings: Settings, database_url: str, platform_name: str
) -> Callable[..., Settings]:
    """Factory: settings for this test's database, platform and its own Redis queue."""
    queue = f"lifecycle-test:{uuid.uuid4().hex[:10]}"
    host = mapped_platform(platform_name)

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "redis_url": settings.redis_url.get_secret_value(),
            "queue_name": queue,
        }
        if host is not None:
            values["platform_file"] = host.mapping
        values.update(overrides)
        return load_settings(**values)

    return make


@pytest.fixture
async def runtime(test_settings: Callable[..., Settings]) -> AsyncIterator[Runtime]:
    """A job runtime on this test's database (no queue attached)."""
    rt = build_runtime(test_settings())
    try:
        yield rt
    finally:
        await rt.engine.dispose()


@pytest.fixture
async def redis_ready(settings: Settings) -> None:
    await require_redis(settings)


@pytest.fixture
async def make_runtime(
    test_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Awaitable[Runtime]]]:
    """Factory: extra runtimes (other settings) on this test's database."""
    made: list[Runtime] = []

    async def make(**overrides: Any) -> Runtime:
        rt = build_runtime(test_settings(**overrides))
        made.append(rt)
        return rt

    yield make
    for rt in made:
        await rt.engine.dispose()


@pytest.fixture
def factory(runtime: Runtime) -> Any:
    """Row factory on this test's database."""
    from tests.factories import Factory

    return Factory(runtime.engine)


@pytest.fixture
async def driver(database_url: str, platform_name: str) -> AsyncIterator[HostDriver]:
    """The host platform's driver on this test's database."""
    made = DRIVERS[platform_name](database_url)
    try:
        yield made
    finally:
        await made.close()


@dataclass(frozen=True)
class PlatformUnderTest:
    """One host platform on this test's database: its driver, URL, settings and runtime."""

    name: str
    driver: HostDriver
    database_url: str
    settings: Callable[..., Settings]
    runtime: Runtime


@pytest.fixture
def platform(
    platform_name: str,
    driver: HostDriver,
    database_url: str,
    test_settings: Callable[..., Settings],
    runtime: Runtime,
) -> PlatformUnderTest:
    """The platform under test; parametrize ``platform_name`` to run on several."""
    return PlatformUnderTest(platform_name, driver, database_url, test_settings, runtime)
