"""Reading LLM model rows."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import LlmModel


async def get_model(
    session: AsyncSession, model_id: uuid.UUID, *, for_update: bool = False
) -> LlmModel | None:
    """The model row with ``model_id`` (soft-deleted included), optionally row-locked."""
    stmt = select(LlmModel).where(LlmModel.id == model_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_live_model(
    session: AsyncSession, provider: str, name: str, team_id: uuid.UUID | None = None
) -> LlmModel | None:
    """The not-deleted model ``provider:name`` (global unless ``team_id`` is given)."""
    team_match = LlmModel.team_id.is_(None) if team_id is None else LlmModel.team_id == team_id
    stmt = select(LlmModel).where(
        LlmModel.provider == provider,
        LlmModel.name == name,
        team_match,
        LlmModel.deleted_at.is_(None),
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_models_by_name(session: AsyncSession, provider: str, name: str) -> list[LlmModel]:
    """Every row named ``provider:name`` (global, team-custom, deleted), newest first."""
    stmt = (
        select(LlmModel)
        .where(LlmModel.provider == provider, LlmModel.name == name)
        .order_by(LlmModel.created_at.desc())
    )
    return list((await session.execute(stmt)).scalars())
