"""Engine and session factories. Nothing connects until a factory is called."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from db.schema_layout import WORKER_SCHEMA, Layout


def make_engine(
    url: str,
    *,
    pool_size: int = 5,
    application_name: str = "lifecycle",
    layout: Layout | None = None,
) -> AsyncEngine:
    """An asyncpg engine; ``url`` must be a ``postgresql+asyncpg://`` URL.

    Its connections find the worker's tables first (``search_path``: the worker's schema,
    then the host's), and the models' schema name maps to the configured one.
    """
    layout = layout or Layout()
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={
            "server_settings": {
                "application_name": application_name,
                "search_path": layout.search_path(),
            },
            "timeout": 10,
        },
    )
    if layout.worker_schema == WORKER_SCHEMA:
        return engine
    return engine.execution_options(schema_translate_map={WORKER_SCHEMA: layout.worker_schema})


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that never expire objects on commit (jobs read results after committing)."""
    return async_sessionmaker(engine, expire_on_commit=False)
