"""With a mapping configured, `db upgrade` builds only the worker's schema."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import text

from db.engine import make_engine
from db.migrate import current_revision, head_revision, upgrade
from db.platform.mapping import load_mapping
from db.schema_layout import Layout
from tests.platforms import MAPPED_PLATFORMS, HostPlatform
from tests.services import base_settings
from worker.platform import layout_from_report, run_platform_check
from worker.settings import load_settings

HostDatabase = Callable[..., Awaitable[str]]

# Every relation, column, constraint, index and trigger outside the worker's schema.
_SHAPE_SQL = """
SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text || ':' ||
       coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                   || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END, ', '
                                   ORDER BY a.attnum)
                 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
                   AND NOT a.attisdropped), '') || ':' ||
       coalesce((SELECT string_agg(pg_get_constraintdef(k.oid), ', ' ORDER BY k.conname)
                 FROM pg_constraint k WHERE k.conrelid = c.oid), '') || ':' ||
       coalesce((SELECT string_agg(t.tgname::text, ', ' ORDER BY t.tgname)
                 FROM pg_trigger t WHERE t.tgrelid = c.oid), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', :worker)
ORDER BY 1
"""


async def _host_state(url: str, worker_schema: str) -> tuple[list[str], dict[str, str]]:
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            shape = list(await conn.scalars(text(_SHAPE_SQL), {"worker": worker_schema}))
            tables = await conn.scalars(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            rows = {}
            for table in sorted(tables):
                rows[table] = await conn.scalar(
                    text(
                        "SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
                        f'FROM public."{table}" t'
                    )
                )
            return shape, rows
    finally:
        await engine.dispose()


@pytest.mark.parametrize("platform", MAPPED_PLATFORMS, ids=lambda p: p.name)
async def test_upgrade_with_a_mapping_leaves_the_host_unchanged(
    host_database: HostDatabase, platform: HostPlatform
) -> None:
    url = await host_database(platform)
    settings = load_settings(
        {},
        database_url=url,
        redis_url=base_settings().redis_url.get_secret_value(),
        platform_file=platform.mapping,
    )
    before = await _host_state(url, settings.worker_schema)

    report = await run_platform_check(settings)
    assert report.ok
    layout = layout_from_report(settings, report)
    mapping = load_mapping(platform.mapping)
    await asyncio.to_thread(upgrade, url, "head", layout, mapping)
    await asyncio.to_thread(upgrade, url, "head", layout, mapping)  # safe to repeat

    after = await _host_state(url, settings.worker_schema)
    assert after == before
    engine = make_engine(url, pool_size=1, layout=layout)
    try:
        async with engine.connect() as conn:
            assert await current_revision(conn, settings.worker_schema) == head_revision()
            # The worker's columns holding host ids take the host's key type, and no
            # foreign key reaches into a host table.
            types = dict(
                (
                    await conn.execute(
                        text(
                            "SELECT table_name || '.' || column_name, data_type "
                            "FROM information_schema.columns WHERE table_schema = :s AND "
                            "column_name IN ('from_model_id', 'team_id', 'user_id')"
                        ),
                        {"s": settings.worker_schema},
                    )
                ).all()
            )
            outward = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_constraint k "
                    "JOIN pg_class s ON s.oid = k.conrelid "
                    "JOIN pg_namespace sn ON sn.oid = s.relnamespace "
                    "JOIN pg_class d ON d.oid = k.confrelid "
                    "JOIN pg_namespace dn ON dn.oid = d.relnamespace "
                    "WHERE k.contype = 'f' AND sn.nspname = :s AND dn.nspname <> :s"
                ),
                {"s": settings.worker_schema},
            )
    finally:
        await engine.dispose()
    assert types == {
        "models.team_id": "bigint",  # the models view over the host's model table
        "deliveries.team_id": "bigint",
        "deliveries.user_id": "bigint",
        "model_migrations.from_model_id": "bigint",
        "notifications.team_id": "bigint",
        "notifications.user_id": "bigint",
    }
    assert outward == 0


def test_reference_layout_is_the_default() -> None:
    assert load_settings({}).layout == Layout()
