"""What cross-platform tests read of the worker: a model's lifecycle state through the
worker's own model access, and its own tables (outbox, notifications) — never a host table."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import text

from db.keys import HostId
from db.queries.models import find_live_model, get_model
from jobs.migration import Request
from jobs.notifications import FanoutPayload, fanout_event
from jobs.runtime import Runtime


async def model_state(runtime: Runtime, model: HostId) -> Any:
    """The model as the worker sees it (``None`` once hard-deleted)."""
    async with runtime.sessions() as session:
        return await get_model(session, model)  # type: ignore[arg-type]


async def global_model(runtime: Runtime, name: str, provider: str = "openai") -> Any:
    """The live global model ``provider:name`` as the worker sees it (``None``: none)."""
    async with runtime.sessions() as session:
        return await find_live_model(session, provider, name)


class Recorder:
    """An enqueue function that records the jobs it is given: ``(job, payload, key)``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], str]] = []

    async def __call__(self, job: str, payload: dict[str, Any], key: str) -> None:
        self.calls.append((job, payload, key))


def migration(
    source: HostId,
    target: HostId,
    *,
    key: str | None = None,
    teams: Iterable[HostId | str] | None = None,
) -> Request:
    """A migration request (``teams``: ids or slugs it is limited to)."""
    return Request(
        "migration",
        str(source),
        str(target),
        "tester",
        key or f"m-{uuid.uuid4()}",
        True,
        _teams(teams),
    )


def deletion(
    model: HostId,
    replacement: HostId | None = None,
    *,
    teams: Iterable[HostId | str] | None = None,
) -> Request:
    target = None if replacement is None else str(replacement)
    return Request(
        "deletion", str(model), target, "tester", f"d-{uuid.uuid4()}", True, _teams(teams)
    )


def _teams(teams: Iterable[HostId | str] | None) -> tuple[str, ...] | None:
    return None if teams is None else tuple(str(t) for t in teams)


def tally(labels: Iterable[str]) -> dict[str, int]:
    """``{label: times listed}``: the counts a set of inserted references should give."""
    return dict(Counter(labels))


async def rows(runtime: Runtime, sql: str, **params: Any) -> list[Any]:
    """Rows of the worker's own tables (the worker's schema comes first on its path)."""
    async with runtime.engine.connect() as conn:
        return list(await conn.execute(text(sql), params))


async def events(runtime: Runtime) -> list[Any]:
    """The outbox: ``(id, slug, model_id, payload, deprecation_date)`` per event."""
    return await rows(
        runtime,
        "SELECT id, slug, CAST(model_id AS text) AS model_id, payload, deprecation_date "
        "FROM lifecycle_events ORDER BY created_at, slug",
    )


async def fan_out_all(runtime: Runtime, *, again: bool = False) -> None:
    """Fan out every event not yet fanned out, as the ``fanout_event`` jobs would (with
    ``again``: every event, as a job delivered twice would)."""
    pending = "" if again else " WHERE fanned_out_at IS NULL"
    for event in await rows(runtime, f"SELECT id FROM lifecycle_events{pending}"):
        await fanout_event(runtime, FanoutPayload(event_id=event.id))


async def notified(runtime: Runtime) -> list[tuple[str, str]]:
    """``(team_id, user_id)`` of every notification row, as text, in order."""
    found = await rows(
        runtime,
        "SELECT CAST(team_id AS text) AS team, CAST(user_id AS text) AS user_id "
        "FROM notifications ORDER BY 1, 2",
    )
    return [(r.team, r.user_id) for r in found]
