"""The ``models`` view: on every platform a worker's write changes only what it set, even
after waiting for an admin's edit; on a host that keeps its provider in a joined table and
has no lifecycle column, reads join, writes go where they belong, the host's shape never
changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from datetime import date
from functools import partial
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import make_engine
from db.models import LlmModel, ModelState
from jobs.cost_map import CostMap
from jobs.deprecation import EnrichPayload, enrich_deprecations
from tests.conftest import PlatformUnderTest
from tests.platforms import every_platform
from tests.platforms.lifecycle import model_state
from tests.services import as_role, granted_role, wait_until_blocked_on_a_lock
from worker.platform import run_platform_grants
from worker.settings import Settings

DEPRECATION = date(2026, 3, 1)  # passed: enrichment flags the model deprecated


async def _edit_while_the_worker_waits(
    admin: AsyncEngine, edit: str, values: dict[str, Any], worker: Awaitable[Any]
) -> None:
    """The admin's ``edit`` holds the model row; the worker's write starts, waits on the row
    lock, and finishes after the admin commits."""
    async with admin.connect() as conn:
        tx = await conn.begin()
        await conn.execute(text(edit), values)
        task = asyncio.ensure_future(worker)
        await wait_until_blocked_on_a_lock(admin)
        await tx.commit()
        await task


@every_platform
async def test_enrichment_waiting_on_an_admins_edit_keeps_the_edit(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    model = await driver.model("gpt-edit", token_limit=8000)
    cost_map = CostMap(
        {"gpt-edit": {"litellm_provider": "openai", "deprecation_date": DEPRECATION.isoformat()}},
        "test",
    )
    enrich = enrich_deprecations(
        runtime, EnrichPayload(), today=date(2026, 11, 21), cost_map=cost_map
    )
    edit = {"m": model, "name": "gpt-renamed", "token_limit": 64_000}

    await _edit_while_the_worker_waits(driver.engine, driver.edit_model_sql(), edit, enrich)

    row = await driver.model_row(model)
    assert row is not None and (row["name"], row["token_limit"]) == ("gpt-renamed", 64_000)
    state = await model_state(runtime, model)
    assert (state.deprecated, state.deprecation_date) == (True, DEPRECATION)


@every_platform
async def test_two_worker_writes_to_one_model_keep_each_others_state(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    model, successor = await driver.model("gpt-old"), await driver.model("gpt-new")

    async def suggest_the_successor() -> None:
        async with runtime.sessions() as session, session.begin():
            await session.execute(
                update(LlmModel).where(LlmModel.id == model).values(replacement_model_id=successor)
            )

    dating = "UPDATE models SET deprecation_date = :d WHERE id = :m"
    await _edit_while_the_worker_waits(
        runtime.engine, dating, {"m": model, "d": DEPRECATION}, suggest_the_successor()
    )

    state = await model_state(runtime, model)
    assert (state.deprecation_date, state.replacement_model_id) == (DEPRECATION, successor)


@pytest.fixture
async def joined_engine(joined_provider: Settings) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(joined_provider.database_url.get_secret_value(), pool_size=2)
    yield engine
    await engine.dispose()


async def test_a_role_holding_only_the_grants_writes_through_the_joined_view(
    joined_provider: Settings,
) -> None:
    settings = joined_provider
    url = settings.database_url.get_secret_value()
    async with granted_role(url, partial(run_platform_grants, settings)) as role:
        engine = make_engine(as_role(url, role), pool_size=1)
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


async def test_a_write_waiting_on_an_admins_edit_keeps_the_edited_joined_column(
    joined_engine: AsyncEngine,
) -> None:
    async with joined_engine.begin() as conn:
        model_id = await conn.scalar(
            insert(LlmModel)
            .values(provider="openai", name="gpt-x", token_limit=8000)
            .returning(LlmModel.id)
        )
    deprecate = joined_engine.begin()

    async def worker() -> None:
        async with deprecate as conn:
            await conn.execute(
                update(LlmModel).where(LlmModel.id == model_id).values(deprecated=True)
            )

    edit = (
        "UPDATE public.ai_models SET model_name = 'gpt-renamed', provider_id = "
        "(SELECT id FROM public.ai_providers WHERE kind = 'anthropic') WHERE id = :m"
    )
    await _edit_while_the_worker_waits(joined_engine, edit, {"m": model_id}, worker())

    async with joined_engine.connect() as conn:
        row = (await conn.execute(select(LlmModel).where(LlmModel.id == model_id))).one()
    assert (row.provider, row.name, row.deprecated) == ("anthropic", "gpt-renamed", True)
