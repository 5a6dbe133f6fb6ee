"""Lifecycle events: slugs, de-duplication keys, writing to the outbox, publishing."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId
from db.models import LlmModel
from db.queries.events import insert_event
from jobs.runtime import Runtime

FANOUT_JOB = "fanout_event"


class Slug(StrEnum):
    """Notification slugs (docs/contract.md)."""

    DEPRECATED = "llm-model-deprecated"
    RETIRING = "llm-model-retiring"
    MIGRATED = "llm-model-migrated"
    DELETED = "llm-model-deleted"
    UNDONE = "llm-model-migration-undone"


def deprecated_key(model_id: HostId) -> str:
    """One deprecation event per model, whoever noticed it (catalog or litellm)."""
    return f"{Slug.DEPRECATED}:{model_id}"


def retiring_key(model_id: HostId, when: date, milestone: int) -> str:
    """One retiring event per (model, date, reminder milestone in days): a moved date
    makes new keys, so its milestones start over."""
    return f"{Slug.RETIRING}:{model_id}:{when.isoformat()}:{milestone}d"


def request_event_key(slug: Slug, request_id: uuid.UUID) -> str:
    """One migrated/deleted (or undone) event per migration or deletion request."""
    return f"{slug}:{request_id}"


def request_of_event(slug: str, dedup_key: str) -> uuid.UUID | None:
    """The request a migrated/deleted event was emitted for (``None``: another event)."""
    if slug not in (Slug.MIGRATED, Slug.DELETED):
        return None
    prefix = f"{slug}:"
    try:
        return uuid.UUID(dedup_key.removeprefix(prefix)) if dedup_key.startswith(prefix) else None
    except ValueError:
        return None


async def emit_model_event(
    session: AsyncSession,
    slug: Slug,
    model: LlmModel,
    *,
    dedup_key: str,
    payload: dict[str, dict[str, int]],
    replacement: LlmModel | None = None,
    deprecation_date: date | None = None,
) -> uuid.UUID | None:
    """Write an event to the outbox in the caller's transaction; ``None`` if a duplicate.

    ``payload`` is ``{team_id: {label: count}}`` — the teams to notify and what they use.
    """
    return await insert_event(
        session,
        slug=slug.value,
        dedup_key=dedup_key,
        model_id=model.id,
        model_provider=model.provider,
        model_name=model.name,
        replacement_provider=replacement.provider if replacement else None,
        replacement_model_name=replacement.name if replacement else None,
        deprecation_date=deprecation_date,
        payload=payload,
    )


async def publish_events(runtime: Runtime, event_ids: Iterable[uuid.UUID | None]) -> None:
    """Enqueue fan-out for events whose transaction has committed.

    Call only after the commit; if the process dies first, the outbox sweeper finds the
    events (``fanned_out_at IS NULL``) and enqueues them.
    """
    for event_id in event_ids:
        if event_id is not None:
            await runtime.enqueue(FANOUT_JOB, {"event_id": str(event_id)}, str(event_id))
