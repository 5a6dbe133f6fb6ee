"""The migrations build exactly the declared schema, and its key constraints hold."""

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from db.migrate import current_revision, head_revision, upgrade
from db.models import Base
from db.schema_layout import HOST_SCHEMA, WORKER_SCHEMA
from jobs.runtime import Runtime
from tests.factories import Factory


def _our_schemas(name: str | None, type_: str, parent_names: object) -> bool:
    return type_ != "schema" or name in (None, WORKER_SCHEMA)


async def test_migrations_match_models(runtime: Runtime, database_url: str) -> None:
    def diff(sync_conn):  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(
            sync_conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_schemas": True,
                "include_name": _our_schemas,
                "version_table_schema": WORKER_SCHEMA,
            },
        )
        return compare_metadata(ctx, Base.metadata)

    # Unqualified model tables are the host's: compare over a connection whose default
    # schema is the host's (the worker's engines put their own schema first).
    plain = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with plain.connect() as conn:
            assert await conn.scalar(text("SELECT current_schema()")) == HOST_SCHEMA
            assert await conn.run_sync(diff) == []
    finally:
        await plain.dispose()
    async with runtime.engine.connect() as conn:
        assert await current_revision(conn) == head_revision()


async def test_upgrade_is_safe_to_repeat(runtime: Runtime, database_url: str) -> None:
    await runtime.engine.dispose()
    await asyncio.to_thread(upgrade, database_url)
    await asyncio.to_thread(upgrade, database_url)
    async with runtime.engine.connect() as conn:
        assert await current_revision(conn) == head_revision()


async def test_global_and_team_model_of_same_name_coexist(factory: Factory) -> None:
    team = await factory.team()
    await factory.model("gpt-4o")
    await factory.model("gpt-4o", team_id=team)
    with pytest.raises(IntegrityError, match="uq_llm_models_provider_name_team_live"):
        await factory.model("gpt-4o")


async def test_soft_deleted_model_frees_its_name(factory: Factory, runtime: Runtime) -> None:
    old = await factory.model("gpt-4")
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE llm_models SET deleted_at = now() WHERE id = :id"), {"id": old}
        )
    await factory.model("gpt-4")


async def test_history_keeps_model_rows_alive(factory: Factory, runtime: Runtime) -> None:
    team = await factory.team()
    model = await factory.model()
    await factory.question(team, model)
    with pytest.raises(IntegrityError, match="fk_questions_llm_model_id_llm_models"):
        async with runtime.engine.begin() as conn:
            await conn.execute(text("DELETE FROM llm_models WHERE id = :id"), {"id": model})


async def test_one_active_migration_per_source(factory: Factory, runtime: Runtime) -> None:
    source = await factory.model()
    insert = text(
        "INSERT INTO model_migrations (kind, request_key, from_model_id, status) "
        "VALUES ('migration', :key, :src, :status)"
    )
    async with runtime.engine.begin() as conn:
        await conn.execute(insert, {"key": "a", "src": source, "status": "succeeded"})
        await conn.execute(insert, {"key": "b", "src": source, "status": "running"})
    with pytest.raises(IntegrityError, match="uq_model_migrations_active_source"):
        async with runtime.engine.begin() as conn:
            await conn.execute(insert, {"key": "c", "src": source, "status": "pending"})
