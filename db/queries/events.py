"""The outbox of lifecycle events."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId
from db.models import LifecycleEvent


async def insert_event(
    session: AsyncSession,
    *,
    slug: str,
    dedup_key: str,
    model_id: HostId | None,
    model_provider: str,
    model_name: str,
    replacement_provider: str | None = None,
    replacement_model_name: str | None = None,
    deprecation_date: date | None = None,
    payload: dict[str, dict[str, int]] | None = None,
) -> uuid.UUID | None:
    """Add an event unless one with ``dedup_key`` exists; returns the new id or ``None``."""
    stmt = (
        insert(LifecycleEvent)
        .values(
            slug=slug,
            dedup_key=dedup_key,
            model_id=model_id,
            model_provider=model_provider,
            model_name=model_name,
            replacement_provider=replacement_provider,
            replacement_model_name=replacement_model_name,
            deprecation_date=deprecation_date,
            payload=payload or {},
        )
        .on_conflict_do_nothing(index_elements=[LifecycleEvent.dedup_key])
        .returning(LifecycleEvent.id)
    )
    return await session.scalar(stmt)
