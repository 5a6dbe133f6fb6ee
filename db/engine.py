"""Engine and session factories. Nothing connects until a factory is called."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from db.schema_layout import WORKER_SCHEMA, Layout

# libpq's TLS parameters. asyncpg reads them from a DSN; SQLAlchemy would hand them to
# asyncpg as keyword arguments it does not take, so they travel as a DSN of their own.
TLS_PARAMETERS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "sslpassword")


def connect_options(url: str) -> tuple[URL, dict[str, Any]]:
    """The URL SQLAlchemy connects to, and asyncpg's arguments for its TLS parameters
    (``?sslmode=verify-full&sslrootcert=/path/ca.pem``: verified against that CA)."""
    parsed = make_url(url)
    tls = {k: v for k, v in parsed.query.items() if k in TLS_PARAMETERS}
    if not tls:
        return parsed, {}
    dsn = "postgresql://?" + urlencode(tls, doseq=True, safe="/:")
    return parsed.difference_update_query(TLS_PARAMETERS), {"dsn": dsn}


def make_engine(
    url: str,
    *,
    pool_size: int = 5,
    application_name: str = "lifecycle",
    layout: Layout | None = None,
) -> AsyncEngine:
    """An asyncpg engine; ``url`` must be a ``postgresql+asyncpg://`` URL.

    TLS parameters in the URL (libpq's names) are honoured. Its connections find the
    worker's tables first (``search_path``: the worker's schema, then the host's), and the
    models' schema name maps to the configured one.
    """
    layout = layout or Layout()
    target, tls = connect_options(url)
    engine = create_async_engine(
        target,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={
            **tls,
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
