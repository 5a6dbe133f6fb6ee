"""Alembic environment: runs migrations over an asyncpg connection.

The version table lives in the worker's own schema. A database migrated before the
worker had a schema of its own keeps its version table in the host's schema; it is moved
over (once, under the migration lock) and revision 0003 moves the worker's tables after it.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from db.engine import connect_options
from db.migrate import VERSION_TABLE, migration_layout, migration_mapping
from db.models import Base
from db.platform.model_view import STATE_TABLE, ModelView
from db.schema_layout import Layout

# Serialises concurrent `lifecycle db upgrade` runs (several replicas deploying at once).
MIGRATION_LOCK_ID = 7_294_001

config = context.config
target_metadata = Base.metadata


def _adopt_legacy_version_table(connection: Connection, worker: str, host: str) -> None:
    """Move a version table left in the host's schema by an older release into ours."""
    ours = connection.scalar(text("SELECT to_regclass(:t)"), {"t": f'"{worker}".{VERSION_TABLE}'})
    legacy = connection.scalar(text("SELECT to_regclass(:t)"), {"t": f'"{host}".{VERSION_TABLE}'})
    if ours is None and legacy is not None:
        connection.execute(text(f'ALTER TABLE "{host}".{VERSION_TABLE} SET SCHEMA "{worker}"'))


def _install_model_view(connection: Connection, layout: Layout) -> None:
    """(Re)build the ``models`` view from the mapping, once its state table exists."""
    state = connection.scalar(
        text("SELECT to_regclass(:t)"), {"t": f'"{layout.worker_schema}".{STATE_TABLE}'}
    )
    if state is None:
        return  # upgraded to a revision before 0006
    view = ModelView(migration_mapping(), layout.worker_schema, layout.host_schema)
    try:
        for statement in view.statements():
            connection.execute(text(statement))
    except Exception:
        connection.rollback()  # so that the lock can still be released
        raise
    connection.commit()


def _ensure_schema(connection: Connection, schema: str) -> None:
    """Create the worker's schema unless it exists: a schema created for the role that
    runs ``db upgrade`` (its owner) needs no CREATE privilege on the database."""
    exists = connection.scalar(
        text("SELECT 1 FROM pg_namespace WHERE nspname = :schema"), {"schema": schema}
    )
    if not exists:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))


def _run(connection: Connection) -> None:
    layout = migration_layout()
    connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
    try:
        # Unqualified names in revisions are the reference platform's host tables.
        connection.execute(text(f'SET search_path TO "{layout.host_schema}"'))
        _ensure_schema(connection, layout.worker_schema)
        _adopt_legacy_version_table(connection, layout.worker_schema, layout.host_schema)
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            transaction_per_migration=True,
            version_table_schema=layout.worker_schema,
        )
        with context.begin_transaction():
            context.run_migrations()
        _install_model_view(connection, layout)
    except Exception:
        connection.rollback()  # so that the lock is released and the error itself shown
        raise
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
        connection.commit()


async def _run_async(url: str) -> None:
    target, tls = connect_options(url)
    engine = create_async_engine(target, poolclass=NullPool, connect_args=tls)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL given to the Alembic environment")
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        version_table_schema=migration_layout().worker_schema,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
