"""Test access to the real PostgreSQL and Redis named by ``LIFECYCLE_*`` (or the defaults).

A test that needs a service fails with a clear message when it is missing; it never skips.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from db.migrate import MIGRATIONS_DIR, upgrade
from db.platform.check import PlatformReport
from db.platform.mapping import load_mapping
from tests.platforms import ROOT, HostPlatform, seed_sql
from worker.devservices import with_database
from worker.health import asyncpg_dsn
from worker.platform import layout_from_report, run_platform_check
from worker.settings import Settings, load_settings, redact_url

TEMPLATE_LOCK = 7_294_002


def base_settings() -> Settings:
    return load_settings()


def as_role(url: str, role: str) -> str:
    """``url`` connecting as ``role`` (no password: the test servers trust 127.0.0.1)."""
    return make_url(url).set(username=role, password=None).render_as_string(False)


@asynccontextmanager
async def granted_role(url: str, grants_for: Callable[[str], Awaitable[str]]) -> AsyncIterator[str]:
    """A new login role on ``url``'s database holding only ``grants_for(role)`` (SQL run
    by the administrator); its name. Dropped afterwards, with everything granted to it."""
    name = f"lifecycle_r_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        await admin.execute(f'CREATE ROLE "{name}" LOGIN')
        await admin.execute(await grants_for(name))
        yield name
    finally:
        await admin.execute(f'DROP OWNED BY "{name}"')
        await admin.execute(f'DROP ROLE IF EXISTS "{name}"')
        await admin.close()


def admin_url(settings: Settings) -> str:
    return with_database(settings.database_url.get_secret_value(), "postgres")


async def admin_connect(settings: Settings) -> asyncpg.Connection:
    url = admin_url(settings)
    try:
        return await asyncpg.connect(asyncpg_dsn(url), timeout=5)
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL is required for this test and is not reachable at {redact_url(url)}: "
            f"{type(exc).__name__}: {exc}. Run `make test` (it finds or starts one).",
            pytrace=False,
        )


async def require_redis(settings: Settings) -> None:
    url = settings.redis_url.get_secret_value()
    client = Redis.from_url(url, socket_connect_timeout=3)
    try:
        await client.ping()
    except Exception as exc:
        pytest.fail(
            f"Redis is required for this test and is not reachable at {redact_url(url)}: "
            f"{type(exc).__name__}: {exc}. Run `make test` (it finds or starts one).",
            pytrace=False,
        )
    finally:
        await client.aclose()


def migrations_fingerprint() -> str:
    digest = hashlib.sha256()
    # The models view is built by every upgrade from db/platform (generator and mapping).
    platform = Path(MIGRATIONS_DIR).parent / "platform"
    for path in [*sorted(Path(MIGRATIONS_DIR).rglob("*.py")), *sorted(platform.glob("*.*"))]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


async def ensure_template(settings: Settings) -> str:
    """A database migrated to head, named after the migrations it was built from."""
    return await _ensure_built(
        settings,
        f"lifecycle_tpl_{migrations_fingerprint()}",
        lambda url: asyncio.to_thread(upgrade, url),
    )


async def _ensure_built(
    settings: Settings, name: str, build: Callable[[str], Awaitable[object]]
) -> str:
    """Database ``name``, built by ``build(url)`` once (under a lock shared by every test
    process) and renamed into place only when complete."""
    conn = await admin_connect(settings)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", TEMPLATE_LOCK)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                building = f"{name}_building"
                await conn.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
                await conn.execute(f'CREATE DATABASE "{building}"')
                await build(with_database(settings.database_url.get_secret_value(), building))
                await conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", TEMPLATE_LOCK)
    finally:
        await conn.close()
    return name


async def create_test_database(settings: Settings, template: str | None, prefix: str = "t") -> str:
    """A new database cloned from ``template`` (``None``: an empty one); its name."""
    name = f"lifecycle_{prefix}_{uuid.uuid4().hex[:12]}"
    clone = f' TEMPLATE "{template}"' if template else ""
    conn = await admin_connect(settings)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"{clone}')
    finally:
        await conn.close()
    return name


async def drop_database(settings: Settings, name: str) -> None:
    conn = await admin_connect(settings)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def host_template_fingerprint(platform: HostPlatform) -> str:
    """What a mapped host's template is built from: its SQL, its mapping, the migrations."""
    digest = hashlib.sha256()
    files = [platform.schema_sql, seed_sql(platform), platform.mapping]
    for folder in (Path(MIGRATIONS_DIR), ROOT / "db" / "platform"):
        files += sorted(
            p for p in folder.rglob("*") if p.is_file() and p.suffix in (".py", ".toml")
        )
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


async def ensure_host_template(settings: Settings, platform: HostPlatform) -> str:
    """A database holding a mapped host's schema and seed, with the worker's schema built
    by ``db upgrade`` for its mapping; named after what it was built from."""
    slug = platform.name.replace("-", "_")
    name = f"lifecycle_tpl_{slug}_{host_template_fingerprint(platform)}"
    return await _ensure_built(settings, name, lambda url: _build_host(url, platform))


async def _build_host(url: str, platform: HostPlatform) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        await conn.execute(platform.schema_sql.read_text())
        await conn.execute(seed_sql(platform).read_text())
    finally:
        await conn.close()
    await adopt_host(url, platform)


async def adopt_host(url: str, platform: HostPlatform) -> tuple[Settings, PlatformReport]:
    """What an adopter does on the host database at ``url``: check ``platform``'s mapping
    (raising on an error), then build the worker's schema for it as ``db upgrade`` does.
    Returns the settings for that database and the check's report."""
    settings = load_settings(
        {},
        database_url=url,
        redis_url=base_settings().redis_url.get_secret_value(),
        platform_file=platform.mapping,
    )
    report = await run_platform_check(settings)
    if not report.ok:
        problems = "; ".join(f"{f.subject}: {f.message}" for f in report.errors)
        raise RuntimeError(f"{platform.name}: the mapping does not check out: {problems}")
    layout = layout_from_report(settings, report)
    await asyncio.to_thread(upgrade, url, "head", layout, load_mapping(platform.mapping))
    return settings, report


async def wait_until_blocked_on_a_lock(engine: AsyncEngine) -> None:
    """Return once a session of the test's database waits on a lock (another's row)."""
    async with asyncio.timeout(30):
        while True:
            async with engine.connect() as conn:
                waiting = await conn.scalar(
                    text(
                        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE "
                        "datname = current_database() AND wait_event_type = 'Lock')"
                    )
                )
            if waiting:
                return
            await asyncio.sleep(0.02)
