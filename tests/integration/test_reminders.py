"""Retirement reminders across a fake clock: the enrichment is called with each "today"
in turn (no sleeping). Milestones 90/30/7/1 are each sent once, a moved date starts
them over, and after downtime only the latest due milestone is sent."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text

from jobs.cost_map import CostMap
from jobs.deprecation import EnrichPayload, enrich_deprecations
from jobs.runtime import Runtime
from tests.factories import Factory

RETIRES = date(2027, 3, 1)


def _map(when: date) -> CostMap:
    entry = {"litellm_provider": "openai", "deprecation_date": when.isoformat()}
    return CostMap({"gpt-4-0613": entry, "gpt-4o": {"litellm_provider": "openai"}}, "test")


async def _run(runtime: Runtime, cmap: CostMap, today: date) -> dict[str, Any]:
    return await enrich_deprecations(runtime, EnrichPayload(), today=today, cost_map=cmap)


async def _reminders(runtime: Runtime, model_id: uuid.UUID) -> list[tuple[date, int]]:
    """(date, milestone) of every retiring event of the model, in the order written."""
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT deprecation_date, dedup_key FROM lifecycle_events "
                "WHERE slug = 'llm-model-retiring' AND model_id = :m ORDER BY created_at, id"
            ),
            {"m": model_id},
        )
        return [(r.deprecation_date, int(r.dedup_key.rsplit(":", 1)[1][:-1])) for r in rows]


async def _days(runtime: Runtime, cmap: CostMap, first: date, last: date) -> list[int]:
    """Run once a day from ``first`` to ``last``; the days left when an event was written."""
    sent = []
    day = first
    while day <= last:
        report = await _run(runtime, cmap, day)
        if report["events"]:
            sent.append((RETIRES - day).days)
        day += timedelta(days=1)
    return sent


async def test_each_milestone_is_sent_once(runtime: Runtime, factory: Factory) -> None:
    model = await factory.model("gpt-4-0613")
    cmap = _map(RETIRES)

    sent_on = await _days(runtime, cmap, RETIRES - timedelta(days=120), RETIRES - timedelta(days=1))

    assert sent_on == [90, 30, 7, 1]
    assert await _reminders(runtime, model) == [(RETIRES, m) for m in (90, 30, 7, 1)]
    # The day it passes: a deprecation, not another reminder.
    report = await _run(runtime, cmap, RETIRES)
    assert [n["model"] for n in report["newly_deprecated"]] == ["openai:gpt-4-0613"]
    assert len(await _reminders(runtime, model)) == 4


async def test_a_moved_date_starts_the_milestones_over(runtime: Runtime, factory: Factory) -> None:
    model = await factory.model("gpt-4-0613")
    await _days(runtime, _map(RETIRES), RETIRES - timedelta(days=31), RETIRES - timedelta(days=29))
    assert await _reminders(runtime, model) == [(RETIRES, 90), (RETIRES, 30)]

    later = RETIRES + timedelta(days=60)  # moved while 29 days were left: now 89
    await _run(runtime, _map(later), RETIRES - timedelta(days=29))
    await _run(runtime, _map(later), RETIRES - timedelta(days=28))

    assert await _reminders(runtime, model) == [(RETIRES, 90), (RETIRES, 30), (later, 90)]
    moved_back = RETIRES - timedelta(days=20)  # and back, sooner: 8 days left
    await _run(runtime, _map(moved_back), RETIRES - timedelta(days=28))
    assert (await _reminders(runtime, model))[-1] == (moved_back, 30)


async def test_after_a_week_of_downtime_only_the_latest_due_milestone(
    runtime: Runtime, factory: Factory
) -> None:
    model = await factory.model("gpt-4-0613")
    cmap = _map(RETIRES)
    await _days(runtime, cmap, RETIRES - timedelta(days=10), RETIRES - timedelta(days=9))
    assert await _reminders(runtime, model) == [(RETIRES, 30)]  # 10 days left: due since 30

    # Down from 9 days before to the day before: the 7- and the 1-day milestones fell
    # due meanwhile; the run after the outage sends the 1-day one only.
    report = await _run(runtime, cmap, RETIRES - timedelta(days=1))

    assert report["events"] == 1
    assert [(r["milestone"], r["days_left"]) for r in report["reminders"]] == [(1, 1)]
    assert await _reminders(runtime, model) == [(RETIRES, 30), (RETIRES, 1)]
