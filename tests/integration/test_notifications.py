"""Notification fan-out and the outbox sweeper against real PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text

from db.platform.host import reference_host
from db.queries.models import get_model
from db.queries.notifications import recent_notifications
from db.queries.references import impact_by_team, usage_by_team
from jobs.errors import InvalidPayload
from jobs.events import Slug, emit_model_event
from jobs.notifications import FanoutPayload, fanout_event, sweep_outbox
from jobs.runtime import Runtime
from jobs.spec import EmptyPayload
from tests.factories import Factory

HOST = reference_host()

MakeRuntime = Callable[..., Awaitable[Runtime]]


async def write_event(
    runtime: Runtime,
    slug: Slug,
    model_id: uuid.UUID,
    payload: dict[str, dict[str, int]],
    *,
    replacement_id: uuid.UUID | None = None,
    when: date | None = None,
) -> uuid.UUID:
    """Write an outbox event the way the lifecycle jobs do (committed, not published)."""
    async with runtime.sessions() as session, session.begin():
        model = await get_model(session, model_id)
        assert model is not None
        replacement = await get_model(session, replacement_id) if replacement_id else None
        event_id = await emit_model_event(
            session,
            slug,
            model,
            dedup_key=f"test:{uuid.uuid4()}",
            payload=payload,
            replacement=replacement,
            deprecation_date=when,
        )
    assert event_id is not None
    return event_id


async def rows(runtime: Runtime, event_id: uuid.UUID) -> list[Any]:
    async with runtime.engine.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT team_id, user_id, slug, level, title, body, data FROM notifications "
                "WHERE event_id = :id ORDER BY team_id, user_id"
            ),
            {"id": event_id},
        )
        return list(result)


async def pairs(runtime: Runtime, event_id: uuid.UUID) -> set[tuple[uuid.UUID, uuid.UUID]]:
    return {(r.team_id, r.user_id) for r in await rows(runtime, event_id)}


async def fanned_out(runtime: Runtime, event_id: uuid.UUID) -> bool:
    async with runtime.engine.connect() as conn:
        value = await conn.scalar(
            text("SELECT fanned_out_at FROM lifecycle_events WHERE id = :id"), {"id": event_id}
        )
    return value is not None


async def sql(runtime: Runtime, statement: str, **params: Any) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(text(statement), params)


async def fan_out(runtime: Runtime, event_id: uuid.UUID) -> dict[str, Any]:
    return await fanout_event(runtime, FanoutPayload(event_id=event_id))


async def test_permitted_members_of_affected_teams_are_notified_exactly_once(
    factory: Factory, runtime: Runtime
) -> None:
    team, bystander = await factory.team(), await factory.team()
    model = await factory.model("gpt-4")
    replacement = await factory.model("gpt-4o")
    for _ in range(3):
        await factory.assistant(team, model)
    await factory.pipeline(team, [model])
    await factory.assistant(bystander, replacement)
    admin = await factory.member(team)
    both = await factory.member(team, permissions=["view", "manage_models"])
    await factory.member(team, permissions=[])
    await factory.member(team, permissions=["manage_models_extra", "view"])
    await factory.member(bystander)
    async with runtime.sessions() as session:
        payload = impact_by_team(await usage_by_team(session, model, HOST.live()))
    event = await write_event(runtime, Slug.DEPRECATED, model, payload, replacement_id=replacement)

    result = await fan_out(runtime, event)

    assert result["status"] == "fanned_out"
    assert (result["teams"], result["chunks"], result["notifications"]) == (1, 1, 2)
    assert await pairs(runtime, event) == {(team, admin), (team, both)}
    assert await fanned_out(runtime, event)
    first = (await rows(runtime, event))[0]
    assert first.title == "openai:gpt-4 is deprecated"
    assert "3 assistants, 1 pipeline" in first.body
    assert "openai:gpt-4o" in first.body

    again = await fan_out(runtime, event)
    assert (again["status"], again["notifications"]) == ("already_fanned_out", 0)
    # A crash after the inserts but before fanned_out_at was recorded: the re-run adds nothing.
    await sql(runtime, "UPDATE lifecycle_events SET fanned_out_at = NULL WHERE id = :id", id=event)
    redo = await fan_out(runtime, event)
    assert (redo["status"], redo["notifications"]) == ("fanned_out", 0)
    assert len(await rows(runtime, event)) == 2
    assert await fanned_out(runtime, event)


async def test_configured_permission_decides_who_is_notified(
    factory: Factory, runtime: Runtime, make_runtime: MakeRuntime
) -> None:
    team = await factory.team()
    model = await factory.model()
    await factory.member(team)
    approver = await factory.member(team, permissions=["approve_models"])
    event = await write_event(runtime, Slug.RETIRING, model, {str(team): {"apps": 1}})
    custom = await make_runtime(notification_permission="approve_models")

    result = await fan_out(custom, event)

    assert result["notifications"] == 1
    assert await pairs(runtime, event) == {(team, approver)}


async def test_member_removed_before_fanout_gets_nothing(
    factory: Factory, runtime: Runtime
) -> None:
    team = await factory.team()
    model = await factory.model()
    stays = await factory.member(team)
    leaves = await factory.member(team)
    event = await write_event(runtime, Slug.DELETED, model, {str(team): {"apps": 2}})
    await sql(
        runtime,
        "DELETE FROM team_members WHERE team_id = :t AND user_id = :u",
        t=team,
        u=leaves,
    )

    await fan_out(runtime, event)

    assert await pairs(runtime, event) == {(team, stays)}


async def test_teams_without_affected_resources_get_nothing(
    factory: Factory, runtime: Runtime
) -> None:
    empty, zero, absent = await factory.team(), await factory.team(), await factory.team()
    for team in (empty, zero, absent):
        await factory.member(team)
    model = await factory.model()
    event = await write_event(
        runtime, Slug.MIGRATED, model, {str(empty): {}, str(zero): {"assistants": 0}}
    )

    result = await fan_out(runtime, event)

    assert (result["status"], result["teams"], result["notifications"]) == ("fanned_out", 0, 0)
    assert await rows(runtime, event) == []
    assert await fanned_out(runtime, event)


async def test_many_teams_across_chunk_boundaries(
    factory: Factory, make_runtime: MakeRuntime
) -> None:
    rt = await make_runtime(fanout_team_chunk=3)
    model = await factory.model()
    teams = [await factory.team() for _ in range(7)]
    members = {t: {await factory.member(t), await factory.member(t)} for t in teams}
    await factory.member(teams[0], permissions=[])
    payload = {str(t): {"assistants": i + 1} for i, t in enumerate(teams)}
    event = await write_event(rt, Slug.DEPRECATED, model, payload)

    result = await fan_out(rt, event)

    assert (result["teams"], result["chunks"], result["notifications"]) == (7, 3, 14)
    assert await pairs(rt, event) == {(t, u) for t, us in members.items() for u in us}
    for row in await rows(rt, event):
        n = payload[str(row.team_id)]["assistants"]
        assert row.data["counts"] == {"assistants": n}
        assert row.data["team_id"] == str(row.team_id)
        word = "assistant" if n == 1 else "assistants"
        assert f"uses it in {n} {word}." in row.body


async def test_two_workers_on_the_same_event_write_each_notification_once(
    factory: Factory, make_runtime: MakeRuntime
) -> None:
    workers = [await make_runtime(fanout_team_chunk=2) for _ in range(3)]
    model = await factory.model()
    teams = [await factory.team() for _ in range(12)]
    expected = {(t, await factory.member(t)) for t in teams for _ in range(3)}
    event = await write_event(
        workers[0], Slug.DEPRECATED, model, {str(t): {"apps": 1} for t in teams}
    )

    results = await asyncio.gather(*(fan_out(rt, event) for rt in workers))

    assert sum(r["notifications"] for r in results) == len(expected) == 36
    assert await pairs(workers[0], event) == expected
    assert len(await rows(workers[0], event)) == 36
    assert await fanned_out(workers[0], event)


@pytest.mark.parametrize(
    ("slug", "level"),
    [
        (Slug.DEPRECATED, "warning"),
        (Slug.RETIRING, "warning"),
        (Slug.MIGRATED, "info"),
        (Slug.DELETED, "warning"),
    ],
)
async def test_level_text_and_data_per_slug(
    factory: Factory, runtime: Runtime, slug: Slug, level: str
) -> None:
    team = await factory.team()
    await factory.member(team)
    model = await factory.model("claude-2.0", "anthropic")
    replacement = await factory.model("claude-3-5-sonnet", "anthropic")
    when = date(2026, 6, 30)
    event = await write_event(
        runtime,
        slug,
        model,
        {str(team): {"pipelines": 2, "assistants": 1}},
        replacement_id=replacement,
        when=when,
    )

    await fan_out(runtime, event)

    (row,) = await rows(runtime, event)
    assert (row.slug, row.level) == (slug.value, level)
    assert "anthropic:claude-2.0" in row.title
    assert "1 assistant, 2 pipelines" in row.body
    assert "anthropic:claude-3-5-sonnet" in row.body
    assert row.data["event_id"] == str(event)
    assert row.data["team_id"] == str(team)
    assert row.data["model"] == {
        "id": str(model),
        "provider": "anthropic",
        "name": "claude-2.0",
        "team_id": None,
    }
    assert row.data["replacement"] == {"provider": "anthropic", "name": "claude-3-5-sonnet"}
    assert row.data["counts"] == {"assistants": 1, "pipelines": 2}
    assert row.data["total"] == 3
    assert row.data["deprecation_date"] == "2026-06-30"


async def test_unknown_event_fails_as_bad_input(runtime: Runtime) -> None:
    missing = uuid.uuid4()
    with pytest.raises(InvalidPayload, match=str(missing)):
        await fan_out(runtime, missing)


async def test_unknown_slug_fails_as_bad_input(factory: Factory, runtime: Runtime) -> None:
    model = await factory.model()
    event = await write_event(runtime, Slug.DELETED, model, {})
    await sql(
        runtime, "UPDATE lifecycle_events SET slug = 'llm-model-odd' WHERE id = :id", id=event
    )
    with pytest.raises(InvalidPayload, match="llm-model-odd"):
        await fan_out(runtime, event)
    assert not await fanned_out(runtime, event)


def recording(runtime: Runtime) -> tuple[Runtime, list[tuple[str, dict[str, Any], str]]]:
    calls: list[tuple[str, dict[str, Any], str]] = []

    async def enqueue(job: str, payload: dict[str, Any], key: str) -> None:
        calls.append((job, payload, key))

    return dataclasses.replace(runtime, enqueue=enqueue), calls


async def test_sweeper_enqueues_only_old_pending_events(factory: Factory, runtime: Runtime) -> None:
    model = await factory.model()
    old, fresh, done, stale = [
        await write_event(runtime, Slug.DEPRECATED, model, {}) for _ in range(4)
    ]
    await sql(
        runtime,
        "UPDATE lifecycle_events SET created_at = now() - interval '2 minutes' "
        "WHERE id IN (:old, :done)",
        old=old,
        done=done,
    )
    await sql(
        runtime,
        "UPDATE lifecycle_events SET created_at = now() - interval '2 hours' WHERE id = :id",
        id=stale,
    )
    await fan_out(runtime, done)
    swept, calls = recording(runtime)

    result = await sweep_outbox(swept, EmptyPayload())

    assert result["enqueued"] == 2
    # Oldest first; the one pending for hours gets a fresh key (its first job is long done).
    assert calls == [
        ("fanout_event", {"event_id": str(stale)}, f"{stale}:retry-2"),
        ("fanout_event", {"event_id": str(old)}, str(old)),
    ]
    calls.clear()
    await sweep_outbox(swept, EmptyPayload(), min_age_seconds=0)
    assert {c[1]["event_id"] for c in calls} == {str(old), str(fresh), str(stale)}


async def test_crash_between_commit_and_enqueue_is_recovered_by_the_sweeper(
    factory: Factory, runtime: Runtime
) -> None:
    team = await factory.team()
    user = await factory.member(team)
    model = await factory.model()
    # The job committed its event and died before publish_events: nothing was queued.
    event = await write_event(runtime, Slug.DELETED, model, {str(team): {"services": 1}})
    swept, calls = recording(runtime)

    await sweep_outbox(swept, EmptyPayload(), min_age_seconds=0)

    assert calls == [("fanout_event", {"event_id": str(event)}, str(event))]
    await fan_out(runtime, FanoutPayload.model_validate(calls[0][1]).event_id)
    assert await pairs(runtime, event) == {(team, user)}
    calls.clear()
    await sweep_outbox(swept, EmptyPayload(), min_age_seconds=0)
    assert calls == []


async def test_listing_filters_by_team_and_model_even_after_hard_delete(
    factory: Factory, runtime: Runtime
) -> None:
    red, blue = await factory.team("red"), await factory.team("blue")
    await factory.member(red)
    await factory.member(blue)
    gone = await factory.model("old-model", "acme")
    kept = await factory.model("other-model", "acme")
    e1 = await write_event(runtime, Slug.DELETED, gone, {str(red): {"apps": 1}})
    e2 = await write_event(
        runtime, Slug.DEPRECATED, kept, {str(red): {"apps": 1}, str(blue): {"apps": 1}}
    )
    for event in (e1, e2):
        await fan_out(runtime, event)
    await sql(runtime, "DELETE FROM llm_models WHERE id = :id", id=gone)

    async with runtime.sessions() as session:
        platform = runtime.platform
        by_team = await recent_notifications(session, platform, team_id=blue)
        by_id = await recent_notifications(session, platform, model_id=gone)
        by_name = await recent_notifications(session, platform, provider="acme", name="old-model")
        everything = await recent_notifications(session, platform)
        limited = await recent_notifications(session, platform, limit=2)

    assert [(r.team_slug, r.event_id) for r in by_team] == [("blue", e2)]
    assert [(r.team_slug, r.event_id) for r in by_id] == [("red", e1)]
    assert [(r.model_provider, r.model_name) for r in by_name] == [("acme", "old-model")]
    assert len(everything) == 3
    assert len(limited) == 2
