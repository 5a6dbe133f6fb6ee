"""The outbox sweeper is fair: events whose fan-out keeps failing cannot hide newer ones."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import text

from jobs.events import Slug
from jobs.notifications import sweep_outbox
from jobs.runtime import Runtime
from jobs.spec import EmptyPayload
from tests.factories import Factory
from tests.integration.test_notifications import write_event


async def test_stuck_events_take_turns_and_a_newer_one_is_reached(
    factory: Factory, runtime: Runtime
) -> None:
    model = await factory.model()
    stuck = [await write_event(runtime, Slug.DEPRECATED, model, {}) for _ in range(5)]
    async with runtime.engine.begin() as conn:
        for age, event_id in enumerate(reversed(stuck), start=5):
            await conn.execute(
                text(
                    "UPDATE lifecycle_events SET created_at = now() - make_interval(mins => :m) "
                    "WHERE id = :id"
                ),
                {"m": age, "id": event_id},
            )
    calls: list[str] = []

    async def enqueue(job: str, payload: dict[str, Any], key: str) -> None:
        calls.append(payload["event_id"])

    rt = dataclasses.replace(runtime, enqueue=enqueue)

    first = await sweep_outbox(rt, EmptyPayload(), limit=3)
    newer = await write_event(runtime, Slug.DEPRECATED, model, {})  # while 5 stay stuck
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE lifecycle_events SET created_at = now() - interval '2 minutes' "
                "WHERE id = :id"
            ),
            {"id": newer},
        )
    second = await sweep_outbox(rt, EmptyPayload(), limit=3)

    assert first["enqueued"] == 3 and second["enqueued"] == 3
    # The oldest 3 first; then the 2 never swept and the newer one, not the same 3 again.
    assert set(first["event_ids"]) == {str(e) for e in stuck[:3]}
    assert set(second["event_ids"]) == {str(e) for e in [*stuck[3:], newer]}
    third = await sweep_outbox(rt, EmptyPayload(), limit=3)
    assert set(third["event_ids"]) == {str(e) for e in stuck[:3]}  # round and round
