"""The ``models`` view on a host that keeps its provider in a joined table and has no
lifecycle column: reads join, writes go where they belong, the host's shape never changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import make_engine
from db.migrate import upgrade
from db.models import LlmModel, ModelState
from db.platform.mapping import load_mapping
from db.schema_layout import Layout
from tests.platforms import JOINED_PROVIDER
from tests.services import as_role, base_settings, granted_role
from worker.platform import layout_from_report, run_platform_check, run_platform_grants
from worker.settings import Settings, load_settings

HostDatabase = Callable[..., Awaitable[str]]


@pytest.fixture
async def joined_host(host_database: HostDatabase) -> tuple[Settings, Layout]:
    """A joined-provider host with the worker's schema built for it."""
    url = await host_database(JOINED_PROVIDER, seed=False)
    settings = load_settings(
        {},
        database_url=url,
        redis_url=base_settings().redis_url.get_secret_value(),
        platform_file=JOINED_PROVIDER.mapping,
    )
    report = await run_platform_check(settings)
    assert report.ok, [f"{f.subject}: {f.message}" for f in report.errors]
    layout = layout_from_report(settings, report)
    await asyncio.to_thread(upgrade, url, "head", layout, load_mapping(JOINED_PROVIDER.mapping))
    return settings, layout


@pytest.fixture
async def joined_engine(joined_host: tuple[Settings, Layout]) -> AsyncIterator[AsyncEngine]:
    settings, layout = joined_host
    engine = make_engine(settings.database_url.get_secret_value(), pool_size=1, layout=layout)
    yield engine
    await engine.dispose()


async def test_a_role_holding_only_the_grants_writes_through_the_joined_view(
    joined_host: tuple[Settings, Layout],
) -> None:
    settings, layout = joined_host
    url = settings.database_url.get_secret_value()
    async with granted_role(url, partial(run_platform_grants, settings)) as role:
        engine = make_engine(as_role(url, role), pool_size=1, layout=layout)
        try:
            async with engine.begin() as conn:
                model_id = await conn.scalar(
                    insert(LlmModel)
                    .values(provider="anthropic", name="claude-r", token_limit=1000)
                    .returning(LlmModel.id)
                )
                await conn.execute(
                    update(LlmModel)
                    .where(LlmModel.id == model_id)
                    .values(provider="openai", deleted_at=func.now())
                )
                row = (await conn.execute(select(LlmModel).where(LlmModel.id == model_id))).one()
                await conn.execute(delete(LlmModel).where(LlmModel.id == model_id))
                gone = await conn.scalar(select(func.count()).where(LlmModel.id == model_id))
        finally:
            await engine.dispose()
    assert (row.provider, row.name, row.deleted_at is not None) == ("openai", "claude-r", True)
    assert gone == 0


async def test_a_model_written_through_the_view_lands_in_the_host_and_worker_tables(
    joined_engine: AsyncEngine,
) -> None:
    async with joined_engine.begin() as conn:
        model_id = await conn.scalar(
            insert(LlmModel)
            .values(provider="anthropic", name="claude-x", token_limit=200_000)
            .returning(LlmModel.id)
        )
        assert isinstance(model_id, int)
        await conn.execute(
            update(LlmModel)
            .where(LlmModel.id == model_id)
            .values(deprecated=True, migrated_to_model_id=model_id, provider="openai")
        )
        row = (await conn.execute(select(LlmModel).where(LlmModel.id == model_id))).one()
        host = (
            await conn.exec_driver_sql(
                "SELECT p.kind, m.model_name, m.context_tokens FROM public.ai_models m "
                "JOIN public.ai_providers p ON p.id = m.provider_id"
            )
        ).one()
        state = (await conn.execute(select(ModelState))).one()
    assert (row.provider, row.name, row.display_name, row.token_limit) == (
        "openai",
        "claude-x",
        "claude-x",
        200_000,
    )
    assert row.deprecated is True and row.migrated_to_model_id == model_id
    assert (row.supports_vision, row.security_level, row.team_id) == (False, None, None)
    assert tuple(host) == ("openai", "claude-x", 200_000)
    assert (state.model_id, state.deprecated, state.migrated_to_model_id) == (
        model_id,
        True,
        model_id,
    )

    async with joined_engine.begin() as conn:
        await conn.execute(delete(LlmModel).where(LlmModel.id == model_id))
        assert await conn.scalar(select(ModelState.model_id)) is None
        assert (await conn.exec_driver_sql("SELECT count(*) FROM public.ai_models")).scalar() == 0


async def test_an_unknown_joined_value_is_refused_naming_the_table(
    joined_engine: AsyncEngine,
) -> None:
    with pytest.raises(DBAPIError, match="no row of ai_providers has kind = mistral"):
        async with joined_engine.begin() as conn:
            await conn.execute(
                insert(LlmModel).values(provider="mistral", name="large", token_limit=1)
            )
    async with joined_engine.connect() as conn:
        assert (await conn.exec_driver_sql("SELECT count(*) FROM public.ai_models")).scalar() == 0
