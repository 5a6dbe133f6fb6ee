"""The worker's tables live in their own schema, with their own Alembic version table."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import make_engine
from db.migrate import alembic_config, current_revision, head_revision, upgrade
from db.models import Base, LifecycleRun
from db.queries.requests import LabelProgress, progress_by_label
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


async def test_revision_0011_moves_a_running_requests_progress_to_rows_and_back(
    empty_database_url: str,
) -> None:
    """A request in flight across the upgrade resumes from its rows; after a downgrade the
    older code finds its JSONB keys as it wrote them."""
    await asyncio.to_thread(upgrade, empty_database_url, "0010")
    space = "6f1c2a9e-3b0d-4c55-9a1e-2f7d8b6c4e10"
    progress = {
        "phase": "moving",
        "planned": {"assistants": 5, "apps": 2, "spaces": 4},
        "done": {"assistants": 3, "spaces": 1},
        "cursor": {"assistants": 41, "spaces": space},
        "batches": 3,
    }
    engine = make_engine(empty_database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            request_id = await conn.scalar(
                text(
                    "INSERT INTO model_migrations (kind, request_key, status, progress) "
                    "VALUES ('migration', 'in-flight', 'running', CAST(:p AS jsonb)) "
                    "RETURNING id"
                ),
                {"p": json.dumps(progress)},
            )
            # Its committed batches: two on assistants, one on spaces.
            await conn.execute(
                text(
                    "INSERT INTO model_migration_batches (migration_id, label, rows) "
                    "VALUES (:id, 'assistants', 2), (:id, 'assistants', 1), (:id, 'spaces', 1)"
                ),
                {"id": request_id},
            )

        await asyncio.to_thread(upgrade, empty_database_url, "0011")
        async with engine.connect() as conn:
            kept = await conn.scalar(text("SELECT progress FROM model_migrations"))
        assert kept == {"phase": "moving"}
        async with engine.connect() as conn, AsyncSession(bind=conn) as session:
            rows = await progress_by_label(session, request_id)
        assert rows == {
            "apps": LabelProgress(planned=2, done=0, cursor=None, batches=0),
            "assistants": LabelProgress(planned=5, done=3, cursor=41, batches=2),
            "spaces": LabelProgress(planned=4, done=1, cursor=uuid.UUID(space), batches=1),
        }

        await asyncio.to_thread(command.downgrade, alembic_config(empty_database_url), "0010")
        async with engine.connect() as conn:
            restored = await conn.scalar(text("SELECT progress FROM model_migrations"))
        assert restored == progress
        assert not await _tables(empty_database_url, WORKER_SCHEMA) & {"model_migration_progress"}
    finally:
        await engine.dispose()


async def test_revision_0012_keeps_every_journal_entry_and_an_undos_cursor_both_ways(
    empty_database_url: str,
) -> None:
    """Entries journaled a row each become journal rows of one entry under the same ids
    (an undo in progress resumes from its cursor); a downgrade gives each entry of a
    batch's row a row again, in order, with the undo's cursor moved with them."""
    await asyncio.to_thread(upgrade, empty_database_url, "0011")
    entries = [
        ("apps", "k1", {}, {}),
        ("apps", "k2", {}, {}),
        ("assistants", "k3", {"model_parameters": {"top_p": 1}}, {"model_parameters": {}}),
        ("apps", "k4", {}, {}),
    ]
    progress = {"phase": "done", "undo": {"cursor": {"apps": 4, "assistants": None}}}
    engine = make_engine(empty_database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            request_id = await conn.scalar(
                text(
                    "INSERT INTO model_migrations (kind, request_key, status, progress) "
                    "VALUES ('migration', 'undoing', 'succeeded', CAST(:p AS jsonb)) "
                    "RETURNING id"
                ),
                {"p": json.dumps(progress)},
            )
            for label, key, old, new in entries:
                await conn.execute(
                    text(
                        "INSERT INTO request_journal "
                        "(migration_id, label, row_key, old_values, new_values) "
                        "VALUES (:id, :label, :key, CAST(:old AS jsonb), CAST(:new AS jsonb))"
                    ),
                    {
                        "id": request_id,
                        "label": label,
                        "key": key,
                        "old": json.dumps(old),
                        "new": json.dumps(new),
                    },
                )

        await asyncio.to_thread(upgrade, empty_database_url, "0012")
        async with engine.begin() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT id, label, row_keys, old_values, new_values "
                        "FROM request_journal ORDER BY id"
                    )
                )
            ).all()
            # A batch journaled after the upgrade: three entries in one row.
            batch_id = await conn.scalar(
                text(
                    "INSERT INTO request_journal (migration_id, label, row_keys) "
                    "VALUES (:id, 'apps', ARRAY['k5', 'k6', 'k7']) RETURNING id"
                ),
                {"id": request_id},
            )
        assert [tuple(r) for r in rows] == [
            (n, label, [key], [old], [new])
            for n, (label, key, old, new) in enumerate(entries, start=1)
        ]
        assert batch_id == 5

        await asyncio.to_thread(command.downgrade, alembic_config(empty_database_url), "0011")
        async with engine.begin() as conn:
            cursor = await conn.scalar(
                text("SELECT progress #> '{undo,cursor,apps}' FROM model_migrations")
            )
            before_cursor = await conn.scalars(
                text(
                    "SELECT row_key FROM request_journal "
                    "WHERE label = 'apps' AND id < :cursor ORDER BY id"
                ),
                {"cursor": cursor},
            )
            assert list(before_cursor) == ["k1", "k2"], "the undo's cursor moved with the ids"
            back = (
                await conn.execute(
                    text(
                        "SELECT label, row_key, old_values, new_values FROM request_journal "
                        "ORDER BY id"
                    )
                )
            ).all()
            later = await conn.scalar(
                text(
                    "INSERT INTO request_journal "
                    "(migration_id, label, row_key, old_values, new_values) "
                    "VALUES (:id, 'apps', 'k8', '{}', '{}') RETURNING id"
                ),
                {"id": request_id},
            )
        assert [tuple(r) for r in back] == [
            *entries,
            ("apps", "k5", {}, {}),
            ("apps", "k6", {}, {}),
            ("apps", "k7", {}, {}),
        ]
        assert later > 5 * 1_000_000 + 3, "new entries are numbered after the old ones"
    finally:
        await engine.dispose()
