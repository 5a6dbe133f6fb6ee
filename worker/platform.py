"""The configured host platform: its mapping, its check, and the layout it migrates to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.engine import make_engine
from db.platform.check import PlatformReport, check_platform
from db.platform.mapping import PlatformMapping, platform_mapping
from db.platform.model_view import ModelView
from db.platform.privileges import render_grants, required_privileges
from db.schema_layout import Layout
from worker.settings import Settings


def configured_mapping(settings: Settings) -> PlatformMapping:
    """``LIFECYCLE_PLATFORM_FILE``'s mapping, or the reference platform's (``MappingError``)."""
    return platform_mapping(settings.platform_file)


def mapping_source(settings: Settings) -> str:
    """Where the mapping comes from, for reports."""
    if settings.platform_file is None:
        return "built-in reference platform"
    return str(settings.platform_file)


async def run_platform_check(
    settings: Settings, *, count_rows: bool = False, privileges: bool = False
) -> PlatformReport:
    """The configured mapping held against the configured database (with ``privileges``:
    and the privileges the connected role holds)."""
    mapping = configured_mapping(settings)
    async with _connect(settings, mapping) as conn:
        return await check_platform(
            conn,
            mapping,
            source=mapping_source(settings),
            count_rows=count_rows,
            privileges_in=settings.worker_schema if privileges else None,
        )


@asynccontextmanager
async def _connect(settings: Settings, mapping: PlatformMapping) -> AsyncIterator[AsyncConnection]:
    """One connection to the configured database, its engine disposed afterwards."""
    engine = make_engine(
        settings.database_url.get_secret_value(),
        pool_size=1,
        layout=layout_without_keys(settings, mapping),
    )
    try:
        async with engine.connect() as conn:
            yield conn
    finally:
        await engine.dispose()


class GrantsUnavailable(RuntimeError):
    """The grants cannot be worked out; the message says why."""


async def run_platform_grants(settings: Settings, role: str) -> str:
    """The GRANT statements the configured mapping needs, for ``role`` (SQL text)."""
    mapping = configured_mapping(settings)
    async with _connect(settings, mapping) as conn:
        needed = await required_privileges(conn, mapping, settings.worker_schema)
        database = await conn.scalar(text("SELECT current_database()"))
    if needed.worker_owner is None:
        raise GrantsUnavailable(
            f"schema {settings.worker_schema} does not exist: run `lifecycle db upgrade` "
            "(as the role that will own it) first; the grants name its tables"
        )
    if needed.recipients_error:
        raise GrantsUnavailable(
            f"the recipients query's relations cannot be resolved: {needed.recipients_error} "
            "(run `lifecycle platform check`)"
        )
    header = (
        f"Privileges the worker needs on platform {mapping.name} ({mapping_source(settings)}) "
        f"in database {database}, and nothing more."
    )
    return render_grants(needed, role, header=header)


def layout_without_keys(settings: Settings, mapping: PlatformMapping) -> Layout:
    """The schemas of this deployment (key types are read by the check)."""
    return Layout(
        worker_schema=settings.worker_schema,
        host_schema=mapping.host_schema,
        reference_platform=settings.platform_file is None,
    )


def layout_from_report(settings: Settings, report: PlatformReport) -> Layout:
    """The layout ``db upgrade`` builds for a mapped host, with its key types."""
    keys = report.key_types
    return Layout(
        worker_schema=settings.worker_schema,
        host_schema=report.schema,
        reference_platform=False,
        model_key=keys["model"],
        team_key=keys["team"],
        user_key=keys["user"],
    )


class PlatformNotReady(RuntimeError):
    """The worker cannot run on the configured platform; the message names every reason."""


async def ensure_platform_ready(conn: AsyncConnection, settings: Settings) -> PlatformReport:
    """The check a worker runs at start: refuse on any error, naming each."""
    mapping = configured_mapping(settings)
    report = await check_platform(
        conn, mapping, source=mapping_source(settings), privileges_in=settings.worker_schema
    )
    problems = [f"{f.subject}: {f.message}" for f in report.errors]
    view = ModelView(mapping, settings.worker_schema, mapping.host_schema)
    built = await conn.scalar(
        text("SELECT obj_description(to_regclass(:view), 'pg_class')"), {"view": view.view}
    )
    if built != view.fingerprint():
        problems.append(
            f"{view.view}: the models view was not built from this mapping "
            f"(found {built or 'no view'!r}): run `lifecycle db upgrade`"
        )
    if problems:
        raise PlatformNotReady(
            f"the worker cannot start on platform {report.platform} ({report.source}) — "
            + "; ".join(problems)
            + " (run `lifecycle platform check` for the full report)"
        )
    return report


async def check_platform_ready(settings: Settings) -> None:
    """``ensure_platform_ready`` on a connection of its own (before a worker starts)."""
    engine = make_engine(
        settings.database_url.get_secret_value(), pool_size=1, layout=settings.layout
    )
    try:
        async with engine.connect() as conn:
            await ensure_platform_ready(conn, settings)
    finally:
        await engine.dispose()
