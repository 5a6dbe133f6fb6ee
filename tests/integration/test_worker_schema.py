"""The worker's tables live in their own schema, with their own Alembic version table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, text

from db.engine import make_engine
from db.migrate import current_revision, head_revision, upgrade
from db.models import Base, LifecycleRun
from db.schema_layout import WORKER_SCHEMA, Layout
from tests.services import create_test_database, drop_database
from worker.devservices import with_database
from worker.settings import Settings

# Every table the models place in the worker's schema, and the Alembic version table.
WORKER_TABLES = {t.name for t in Base.metadata.tables.values() if t.schema == WORKER_SCHEMA}
WORKER_TABLES.add("alembic_version")


@pytest.fixture
async def empty_database_url(settings: Settings) -> AsyncIterator[str]:
    name = await create_test_database(settings, None, prefix="e")
    try:
        yield with_database(settings.database_url.get_secret_value(), name)
    finally:
        await drop_database(settings, name)


async def _tables(url: str, schema: str) -> set[str]:
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = await conn.scalars(
                text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}
            )
            return set(rows)
    finally:
        await engine.dispose()


async def test_fresh_database_keeps_worker_tables_in_their_schema(empty_database_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_database_url)
    assert await _tables(empty_database_url, WORKER_SCHEMA) == WORKER_TABLES
    assert not (await _tables(empty_database_url, "public")) & WORKER_TABLES


async def test_database_of_an_older_release_moves_over_with_its_rows(
    empty_database_url: str,
) -> None:
    """The layout before the worker had a schema: every table and the version in public."""
    await asyncio.to_thread(upgrade, empty_database_url, "0002")
    at_0002 = await _tables(empty_database_url, WORKER_SCHEMA)
    engine = make_engine(empty_database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            for table in sorted(at_0002):
                await conn.execute(text(f"ALTER TABLE {WORKER_SCHEMA}.{table} SET SCHEMA public"))
            await conn.execute(text(f"DROP SCHEMA {WORKER_SCHEMA}"))
            await conn.execute(
                text(
                    "INSERT INTO public.lifecycle_runs (job, trigger, status) "
                    "VALUES ('cleanup_retired_models', 'cron', 'succeeded')"
                )
            )
    finally:
        await engine.dispose()

    await asyncio.to_thread(upgrade, empty_database_url)

    assert await _tables(empty_database_url, WORKER_SCHEMA) == WORKER_TABLES
    assert not (await _tables(empty_database_url, "public")) & WORKER_TABLES
    engine = make_engine(empty_database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            assert await current_revision(conn) == head_revision()
            runs = (await conn.execute(select(LifecycleRun.job, LifecycleRun.status))).all()
        assert [tuple(r) for r in runs] == [("cleanup_retired_models", "succeeded")]
    finally:
        await engine.dispose()


async def test_a_configured_schema_name_serves_orm_and_raw_sql(empty_database_url: str) -> None:
    layout = Layout(worker_schema="lc_custom")
    await asyncio.to_thread(upgrade, empty_database_url, "head", layout)
    assert await _tables(empty_database_url, "lc_custom") == WORKER_TABLES
    assert await _tables(empty_database_url, WORKER_SCHEMA) == set()

    engine = make_engine(empty_database_url, pool_size=1, layout=layout)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                LifecycleRun.__table__.insert().values(job="enrich", trigger="manual", status="ok")
            )
        async with engine.connect() as conn:
            raw = await conn.scalar(text("SELECT job FROM lifecycle_runs"))
            orm = await conn.scalar(select(LifecycleRun.job))
            assert await current_revision(conn, "lc_custom") == head_revision()
        assert raw == orm == "enrich"
    finally:
        await engine.dispose()
