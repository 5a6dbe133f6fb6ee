"""The ``models`` view on a host that keeps its provider in a joined table and has no
lifecycle column: reads join, writes go where they belong, the host's shape never changes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import make_engine
from db.models import LlmModel, ModelState
from worker.settings import Settings


@pytest.fixture
async def joined_engine(joined_provider: Settings) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(joined_provider.database_url.get_secret_value(), pool_size=1)
    yield engine
    await engine.dispose()


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
