"""What `platform check` accepts, the jobs can write: a column a new row needs and the
mapping does not fill is an error naming it and the fix, and the fix makes the job run.

Each shape goes through the check and through the real job (catalog sync or migration) on
its own database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import tomllib
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError

from db.engine import make_engine
from db.migrate import upgrade
from db.models import LlmModel
from db.platform.check import PlatformReport, check_platform
from db.platform.host import Platform
from db.platform.mapping import (
    REFERENCE_PLATFORM_FILE,
    PlatformMapping,
    load_mapping,
    parse_mapping,
)
from db.platform.model_view import ModelView
from jobs.catalog import SyncCatalogPayload, sync_catalog
from jobs.errors import InvalidPayload
from jobs.migration import run_request
from jobs.runtime import Runtime
from tests.conftest import PlatformUnderTest
from tests.platforms import every_platform, mapped_platform
from tests.platforms.drivers import VIA_PARENT
from tests.platforms.lifecycle import global_model, migration
from tests.services import base_settings
from worker.app import build_runtime
from worker.platform import layout_from_report, run_platform_check
from worker.settings import load_settings

HostDatabase = Callable[..., Awaitable[str]]
TODAY = date(2026, 11, 21)
# A constant that would end the trigger's dollar-quoted body or bind a parameter, if the
# worker did not escape it.
HOSTING = "eu: it's $body$ \\ -- :region"


async def _check(url: str, mapping: PlatformMapping) -> PlatformReport:
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return await check_platform(conn, mapping, source="test")
    finally:
        await engine.dispose()


def _errors(report: PlatformReport) -> list[tuple[str, str, str | None]]:
    return [(f.subject, f.message, f.fix) for f in report.errors]


def _mapping_data(platform_name: str) -> dict[str, Any]:
    host = mapped_platform(platform_name)
    path = REFERENCE_PLATFORM_FILE if host is None else host.mapping
    return tomllib.loads(path.read_text())


async def _execute(url: str, *statements: str) -> None:
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _errors_after(
    platform: PlatformUnderTest, data: dict[str, Any], *ddl: str
) -> list[tuple[str, str, str | None]]:
    """The check's errors for mapping ``data`` once ``ddl`` has changed the host."""
    await _execute(platform.database_url, *ddl)
    return _errors(await _check(platform.database_url, parse_mapping(data)))


async def _on_mapping(runtime: Runtime, mapping: PlatformMapping) -> Runtime:
    """``runtime`` on ``mapping``, with the ``models`` view rebuilt for it (``db upgrade``)."""
    view = ModelView(mapping, base_settings().worker_schema, mapping.host_schema)
    async with runtime.engine.begin() as conn:
        for statement in view.statements():
            await conn.execute(text(statement))
    return dataclasses.replace(runtime, platform=Platform(mapping))


async def _sync(runtime: Runtime, catalog: dict[str, Any], *, dry_run: bool) -> dict[str, Any]:
    payload = SyncCatalogPayload(catalog=catalog, dry_run=dry_run, requested_by="tester")
    return await sync_catalog(runtime, payload, today=TODAY)


# A link table a migration inserts rows into -------------------------------------------------


async def test_a_link_column_without_default_is_named_and_insert_fills_it(
    runtime: Runtime, database_url: str, driver: Any
) -> None:
    """Only the reference platform has a link table (its spaces)."""
    source = await driver.model("link-a")
    target = await driver.model("link-b")
    team = await driver.team()
    assert await driver.live_reference(team, source, VIA_PARENT) == ["spaces"]
    await _execute(
        database_url,
        "ALTER TABLE space_models ADD COLUMN linked_at timestamptz NOT NULL DEFAULT now(), "
        "ADD COLUMN linked_by text NOT NULL DEFAULT 'seed'",
        "ALTER TABLE space_models ALTER COLUMN linked_at DROP DEFAULT, "
        "ALTER COLUMN linked_by DROP DEFAULT",
    )
    data = _mapping_data("reference")
    report = await _check(database_url, parse_mapping(data))
    fix = (
        'add to this reference: insert = {{ {} = … }} (a constant, or "now()" for the time '
        "of the insert), or give the column a default on the host"
    )
    assert _errors(report) == [
        (
            "reference spaces",
            f"space_models.{column} is NOT NULL without a default: a migration inserts "
            "(space_id, llm_model_id) rows here and every one would fail",
            fix.format(column),
        )
        for column in ("linked_at", "linked_by")
    ]

    # What the check refuses, the migration indeed cannot do.
    with pytest.raises(DBAPIError, match="linked_at"):
        await run_request(runtime, migration(source, target))

    [spaces] = [r for r in data["references"] if r["label"] == "spaces"]
    spaces["insert"] = {"linked_at": "now()", "linked_by": "lifecycle: it's $body$ \\ done"}
    fixed = parse_mapping(data)
    assert _errors(await _check(database_url, fixed)) == []

    result = await run_request(await _on_mapping(runtime, fixed), migration(source, target))
    assert result.status == "succeeded", result
    assert result.counts == {"spaces": 1}
    async with runtime.engine.connect() as conn:
        moved = (
            await conn.execute(text("SELECT llm_model_id, linked_at, linked_by FROM space_models"))
        ).one()
    assert moved.llm_model_id == target and moved.linked_at is not None
    assert moved.linked_by == "lifecycle: it's $body$ \\ done"


async def test_a_link_constant_of_the_wrong_type_is_refused_by_the_check(
    runtime: Runtime, database_url: str
) -> None:
    await _execute(
        database_url,
        "ALTER TABLE space_models ADD COLUMN weight integer NOT NULL DEFAULT 1",
        "ALTER TABLE space_models ALTER COLUMN weight DROP DEFAULT",
    )
    data = _mapping_data("reference")
    [spaces] = [r for r in data["references"] if r["label"] == "spaces"]
    spaces["insert"] = {"weight": "heavy"}
    report = await _check(database_url, parse_mapping(data))
    assert _errors(report) == [
        (
            "reference spaces",
            "insert: the values do not fit space_models: invalid input syntax for type "
            'integer: "heavy"',
            None,
        )
    ]
    assert not [f for f in report.findings if f.subject == "reference spaces" and f.level == "ok"]


# A model table with a column the mapping does not name ----------------------------------


@every_platform
async def test_an_unmapped_model_column_is_named_and_insert_fills_it(
    platform: PlatformUnderTest,
) -> None:
    table = platform.driver.model_table
    data = _mapping_data(platform.name)
    assert await _errors_after(
        platform,
        data,
        f"ALTER TABLE {table} ADD COLUMN hosting text NOT NULL DEFAULT 'seed'",
        f"ALTER TABLE {table} ALTER COLUMN hosting DROP DEFAULT",
    ) == [
        (
            "models",
            f"{table}.hosting is NOT NULL without a default, and the mapping gives it no "
            "value: inserting a model (catalog sync) would fail",
            'add it to [models]: insert = { hosting = … } (a constant, or "now()" for the '
            "time of the insert), or give the column a default on the host",
        )
    ]

    # What the check refuses, the catalog sync indeed cannot do.
    catalog = {"models": [{"provider": "openai", "name": "xp-hosted", "token_limit": 8000}]}
    with pytest.raises(DBAPIError, match="hosting"):
        await _sync(platform.runtime, catalog, dry_run=False)

    data["models"]["insert"] = {"hosting": HOSTING}
    fixed = parse_mapping(data)
    assert _errors(await _check(platform.database_url, fixed)) == []
    runtime = await _on_mapping(platform.runtime, fixed)
    dry = await _sync(runtime, catalog, dry_run=True)
    assert dry["counts"]["created"] == 1
    done = await _sync(runtime, catalog, dry_run=False)
    assert done["counts"] == dry["counts"]
    model = await global_model(runtime, "xp-hosted")
    async with runtime.engine.connect() as conn:
        hosting = await conn.scalar(
            text(f"SELECT hosting FROM public.{table} WHERE id = :id"), {"id": model.id}
        )
    assert hosting == HOSTING


@every_platform
async def test_a_mapped_column_the_worker_leaves_empty_must_allow_null(
    platform: PlatformUnderTest,
) -> None:
    data = _mapping_data(platform.name)
    table = platform.driver.model_table
    data["models"]["litellm_model"] = "lookup"
    assert await _errors_after(
        platform, data, f"ALTER TABLE {table} ADD COLUMN lookup text NOT NULL DEFAULT ''"
    ) == [
        (
            "models.litellm_model",
            f"{table}.lookup is NOT NULL, and the worker writes NULL there for a model with "
            "no lookup key",
            "map a column that allows NULL, or leave 'litellm_model' out of the mapping",
        )
    ]


@every_platform
async def test_a_model_id_the_host_does_not_assign_is_named(
    platform: PlatformUnderTest,
) -> None:
    table = platform.driver.model_table
    assert await _errors_after(
        platform,
        _mapping_data(platform.name),
        f"ALTER TABLE {table} ALTER COLUMN id DROP IDENTITY IF EXISTS",
        f"ALTER TABLE {table} ALTER COLUMN id DROP DEFAULT",
    ) == [
        (
            "models.id",
            f"{table}.id has no default or identity: the worker inserts a model without an "
            "id (catalog sync would fail)",
            f"give {table}.id a default or identity on the host",
        )
    ]
    catalog = {"models": [{"provider": "openai", "name": "xp-no-id", "token_limit": 8000}]}
    with pytest.raises(DBAPIError, match='"id"'):
        await _sync(platform.runtime, catalog, dry_run=False)


async def test_a_timestamp_a_plain_view_leaves_to_the_host_needs_its_default(
    runtime: Runtime, database_url: str
) -> None:
    """The reference platform's view is a plain projection: no trigger sets created_at."""
    await _execute(database_url, "ALTER TABLE llm_models ALTER COLUMN created_at DROP DEFAULT")
    report = await _check(database_url, parse_mapping(_mapping_data("reference")))
    assert _errors(report) == [
        (
            "models.created_at",
            "llm_models.created_at is NOT NULL without a default, and an insert through the "
            "plain models view gives it no value (catalog sync would fail)",
            "give llm_models.created_at a default on the host (DEFAULT now())",
        )
    ]
    catalog = {"models": [{"provider": "openai", "name": "xp-undated", "token_limit": 8000}]}
    with pytest.raises(DBAPIError, match="created_at"):
        await _sync(runtime, catalog, dry_run=False)


# A joined model column (Eneo: one provider row per tenant) ------------------------------


@pytest.fixture
async def per_tenant_providers(host_database: HostDatabase) -> str:
    """The joined-provider host where each org has its own provider rows: ``openai`` is
    named by two rows (orgs 1 and 2), ``anthropic`` by one."""
    from tests.platforms import JOINED_PROVIDER

    url = await host_database(JOINED_PROVIDER, seed=False)
    await _execute(
        url,
        "ALTER TABLE ai_providers DROP CONSTRAINT ai_providers_kind_key",
        "ALTER TABLE ai_providers ADD COLUMN org_id integer REFERENCES orgs (id)",
        "UPDATE ai_providers SET org_id = 1",
        "INSERT INTO orgs (title) VALUES ('Globex')",
        "INSERT INTO ai_providers (kind, org_id) VALUES ('openai', 2)",
    )
    return url


async def _joined_runtime(url: str) -> Runtime:
    """A runtime on the joined-provider host, its worker schema built (``db upgrade``)."""
    from tests.platforms import JOINED_PROVIDER

    settings = load_settings(
        {},
        database_url=url,
        redis_url=base_settings().redis_url.get_secret_value(),
        platform_file=JOINED_PROVIDER.mapping,
    )
    report = await run_platform_check(settings)
    layout = layout_from_report(settings, report)
    await asyncio.to_thread(upgrade, url, "head", layout, load_mapping(JOINED_PROVIDER.mapping))
    return build_runtime(settings)


async def test_a_joined_value_naming_several_rows_is_reported_and_a_filter_chooses(
    per_tenant_providers: str,
) -> None:
    from tests.platforms import JOINED_PROVIDER

    url = per_tenant_providers
    data = tomllib.loads(JOINED_PROVIDER.mapping.read_text())
    report = await _check(url, parse_mapping(data))
    assert _errors(report) == [
        (
            "models.provider",
            "ai_providers.kind names more than one row for a value ('openai': 2 rows): a "
            "model inserted with it cannot choose its provider_id (catalog sync would fail)",
            "give [models] provider a filter that leaves one row per value: provider = "
            '{ via = "provider_id", table = "ai_providers", column = "kind", '
            "filter = { column = … } }",
        )
    ]

    runtime = await _joined_runtime(url)
    try:
        catalog = {"models": [{"provider": "openai", "name": "gpt-x", "token_limit": 8000}]}
        refusal = (
            "provider 'openai': 2 rows of ai_providers have kind = 'openai', and a model "
            "names one: give [models] provider a filter that leaves one"
        )
        # The dry run refuses what the real run would refuse, with the same words.
        for dry_run in (True, False):
            with pytest.raises(InvalidPayload, match=re.escape(refusal)):
                await _sync(runtime, catalog, dry_run=dry_run)
        unknown = {"models": [{"provider": "mistral", "name": "large", "token_limit": 1}]}
        with pytest.raises(InvalidPayload, match="no row of ai_providers has kind = 'mistral'"):
            await _sync(runtime, unknown, dry_run=True)
        # A write through the view names the problem too (not a raw sub-query error).
        with pytest.raises(DBAPIError, match="more than one row of ai_providers has kind"):
            async with runtime.engine.begin() as conn:
                await conn.execute(
                    insert(LlmModel).values(provider="openai", name="direct", token_limit=1)
                )
        async with runtime.engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM public.ai_models")) == 0

        data["models"]["provider"]["filter"] = {"org_id": "acme"}
        assert _errors(await _check(url, parse_mapping(data))) == [
            (
                "models.provider.filter",
                "the filter does not fit ai_providers: invalid input syntax for type integer: "
                '"acme"',
                None,
            )
        ]
        data["models"]["provider"]["filter"] = {"org_id": 1}
        fixed = parse_mapping(data)
        assert _errors(await _check(url, fixed)) == []
        ok = next(f for f in (await _check(url, fixed)).findings if f.subject == "models")
        assert ok.level == "ok"
        runtime = await _on_mapping(runtime, fixed)
        dry = await _sync(runtime, catalog, dry_run=True)
        assert dry["counts"]["created"] == 1
        done = await _sync(runtime, catalog, dry_run=False)
        assert done["counts"] == dry["counts"]
        async with runtime.engine.connect() as conn:
            chosen = await conn.scalar(
                text(
                    "SELECT p.org_id FROM public.ai_models m "
                    "JOIN public.ai_providers p ON p.id = m.provider_id"
                )
            )
        assert chosen == 1
        assert (await global_model(runtime, "gpt-x")).provider == "openai"
    finally:
        await runtime.engine.dispose()
