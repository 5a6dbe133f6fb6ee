"""Reading LLM model rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Text, cast, not_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId, id_text
from db.models import LlmModel


async def get_model(
    session: AsyncSession, model_id: HostId, *, for_update: bool = False
) -> LlmModel | None:
    """The model row with ``model_id`` (soft-deleted included), optionally row-locked.

    A locked read locks first and reads in a second statement: state the worker keeps
    beside the host's row (``model_state``) is read after the lock is granted, so a
    request that waited for another one sees what that one committed.
    """
    stmt = select(LlmModel).where(LlmModel.id == model_id)
    if for_update:
        locked = await session.scalar(
            select(LlmModel.id).where(LlmModel.id == model_id).with_for_update()
        )
        if locked is None:
            return None
        stmt = stmt.execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_model_by_id_text(session: AsyncSession, model_id: HostId) -> LlmModel | None:
    """The model whose id reads as ``model_id`` (soft-deleted included).

    Compared as text, so an id of the wrong kind for this host (a UUID where models have
    bigint keys, or the reverse) finds nothing instead of failing to bind.
    """
    stmt = select(LlmModel).where(cast(LlmModel.id, Text) == id_text(model_id))
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_live_model(
    session: AsyncSession, provider: str, name: str, team_id: HostId | None = None
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


def nothing() -> Any:
    """A condition no row meets."""
    return not_(true())


def model_id_is(column: Any, model_ids: Iterable[HostId]) -> Any:
    """``column`` reads as one of ``model_ids`` (compared as text: any host key type)."""
    texts = [id_text(m) for m in model_ids]
    return cast(column, Text).in_(texts) if texts else nothing()


async def model_names(
    session: AsyncSession, model_ids: Sequence[HostId]
) -> dict[str, tuple[str, str, HostId | None]]:
    """``{id as text: (provider, name, team_id)}`` of the model rows that still exist."""
    if not model_ids:
        return {}
    rows = await session.execute(
        select(LlmModel.id, LlmModel.provider, LlmModel.name, LlmModel.team_id).where(
            model_id_is(LlmModel.id, model_ids)
        )
    )
    return {id_text(r.id): (r.provider, r.name, r.team_id) for r in rows}
