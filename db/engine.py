"""Engine and session factories. Nothing connects until a factory is called."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def make_engine(
    url: str, *, pool_size: int = 5, application_name: str = "lifecycle"
) -> AsyncEngine:
    """An asyncpg engine; ``url`` must be a ``postgresql+asyncpg://`` URL."""
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={
            "server_settings": {"application_name": application_name},
            "timeout": 10,
        },
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that never expire objects on commit (jobs read results after committing)."""
    return async_sessionmaker(engine, expire_on_commit=False)
