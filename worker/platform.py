"""The configured host platform: its mapping, its check, and the layout it migrates to."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.engine import make_engine
from db.platform.check import PlatformReport, check_platform
from db.platform.mapping import PlatformMapping, platform_mapping
from db.platform.model_view import ModelView
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


async def run_platform_check(settings: Settings, *, count_rows: bool = False) -> PlatformReport:
    """The configured mapping held against the configured database."""
    mapping = configured_mapping(settings)
    engine = make_engine(
        settings.database_url.get_secret_value(),
        pool_size=1,
        layout=layout_without_keys(settings, mapping),
    )
    try:
        async with engine.connect() as conn:
            return await check_platform(
                conn, mapping, source=mapping_source(settings), count_rows=count_rows
            )
    finally:
        await engine.dispose()


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
    report = await check_platform(conn, mapping, source=mapping_source(settings))
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
