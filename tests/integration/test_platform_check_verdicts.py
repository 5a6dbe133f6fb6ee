"""`platform check` gives one verdict per piece: a join the worker follows without a
foreign key is an error wherever it is (a model column or a row's team), and the `ok
models` line names the joins it followed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import text

from db.engine import make_engine
from db.platform.check import check_platform
from db.platform.mapping import TeamThrough, load_mapping, platform_mapping
from tests.conftest import PlatformUnderTest
from tests.platforms import JOINED_PROVIDER, every_platform
from worker.platform import PlatformNotReady, ensure_platform_ready

HostDatabase = Callable[..., Awaitable[str]]
_FOREIGN_KEY = """
SELECT k.conname FROM pg_constraint k
JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
WHERE k.contype = 'f' AND k.conrelid = to_regclass(:table) AND a.attname = :column
"""


@every_platform
async def test_a_team_reached_without_a_foreign_key_is_an_error_and_the_worker_refuses(
    platform: PlatformUnderTest,
) -> None:
    settings = platform.settings()
    mapping = platform_mapping(settings.platform_file)
    ref = next(r for r in mapping.references if isinstance(r.team, TeamThrough))
    assert isinstance(ref.team, TeamThrough)
    via = ref.team
    async with platform.runtime.engine.begin() as conn:
        table = f'"{mapping.host_schema}"."{ref.table}"'
        name = await conn.scalar(text(_FOREIGN_KEY), {"table": table, "column": via.via})
        await conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))

    expected = f"no foreign key {ref.table}.{via.via} → {via.table}.{via.key}"
    async with platform.runtime.engine.connect() as conn:
        report = await check_platform(conn, mapping, source="test")
        findings = [(f.level, f.message) for f in report.findings if f.subject.endswith(ref.label)]
        assert findings == [("error", expected)]
        with pytest.raises(PlatformNotReady, match=f"reference {ref.label}: {expected}"):
            await ensure_platform_ready(conn, settings)


async def test_the_ok_models_line_names_the_joins_it_followed(
    host_database: HostDatabase,
) -> None:
    url = await host_database(JOINED_PROVIDER, seed=False)
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            report = await check_platform(
                conn, load_mapping(JOINED_PROVIDER.mapping), source="test"
            )
    finally:
        await engine.dispose()
    [models] = [f for f in report.findings if f.subject == "models"]
    assert (models.level, models.message) == (
        "ok",
        "ai_models (id integer); provider = ai_providers.kind joined on "
        "ai_models.provider_id → ai_providers.id; lifecycle state kept by the worker: "
        "deprecated, deprecation_date, deprecation_source, replacement, migrated_to, "
        "deleted_at",
    )
