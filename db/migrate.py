"""Apply and inspect Alembic migrations programmatically."""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.platform.mapping import PlatformMapping, reference_platform
from db.schema_layout import WORKER_SCHEMA, Layout

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"


def alembic_config(
    url: str | None = None, layout: Layout | None = None, mapping: PlatformMapping | None = None
) -> Config:
    """An Alembic config pointing at ``db/migrations`` (no ini file needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.attributes["url"] = url
    layout = layout or Layout()
    if mapping is None and not layout.reference_platform:
        raise ValueError("upgrading a mapped host's database needs its platform mapping")
    cfg.attributes["layout"] = layout
    cfg.attributes["mapping"] = mapping or reference_platform()
    return cfg


def migration_layout() -> Layout:
    """The layout of the migration run in progress (for the revision files)."""
    layout = context.config.attributes.get("layout")
    return layout if isinstance(layout, Layout) else Layout()


def migration_mapping() -> PlatformMapping:
    """The platform mapping of the migration run in progress (the ``models`` view's)."""
    mapping = context.config.attributes.get("mapping")
    return mapping if isinstance(mapping, PlatformMapping) else reference_platform()


def upgrade(
    url: str,
    revision: str = "head",
    layout: Layout | None = None,
    mapping: PlatformMapping | None = None,
) -> None:
    """Bring the database at ``url`` to ``revision`` and (re)build the ``models`` view
    from ``mapping`` (the reference platform's by default); safe to run on every deploy."""
    command.upgrade(alembic_config(url, layout, mapping), revision)


def head_revision() -> str:
    """The newest revision shipped with this package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no Alembic revisions found")
    return head


def version_table_sql(schema: str) -> str:
    """The worker's Alembic version table, qualified (``schema`` is a checked identifier)."""
    return f'"{schema}".{VERSION_TABLE}'


async def current_revision(conn: AsyncConnection, schema: str = WORKER_SCHEMA) -> str | None:
    """The revision the worker's schema is at, or ``None`` when it was never migrated."""
    table = version_table_sql(schema)
    exists = await conn.scalar(text(f"SELECT to_regclass('{table}') IS NOT NULL"))
    if not exists:
        return None
    rev: str | None = await conn.scalar(text(f"SELECT version_num FROM {table}"))
    return rev
