"""Tenant scope and security level hold for the whole run, not only at admission."""

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db import models as m
from jobs.errors import RequestRefused
from jobs.request_admission import Request
from jobs.request_control import pause_request, resume_request
from jobs.request_execution import run_request
from jobs.runtime import Runtime
from tests.e2e.faults.scope import LATE_WRITES, late_rows_on_source, seed_scope_world, write_late
from tests.factories import Factory


@pytest.mark.parametrize("late", sorted(LATE_WRITES))
async def test_rows_written_meanwhile_outside_the_scope_are_never_moved(
    make_runtime: Callable[..., Awaitable[Runtime]], factory: Factory, late: str
) -> None:
    runtime = await make_runtime(batch_size=2)
    world = await seed_scope_world(factory, apps=6)
    write, code = LATE_WRITES[late]
    written: list[bool] = []

    async def write_after_the_first_batch(label: str, moved: int) -> None:
        if not written:
            written.append(await write_late(factory, world, write))

    request = Request("migration", str(world.source), str(world.target), "t", "scoped", True)
    with pytest.raises(RequestRefused, match=code):
        await run_request(runtime, request, after_batch=write_after_the_first_batch)

    assert written == [True]
    row = await factory.request("scoped")
    assert row.status == "failed" and code in row.warnings and row.error.startswith(code)
    assert await late_rows_on_source(factory, world) > 0
    assert (await factory.get_model(world.source)).migrated_to_model_id is None
    # A new batch or a resumed run moves nothing of them either.
    with pytest.raises(RequestRefused, match=code):
        await run_request(runtime, request)
    on_target = await factory.count(
        m.SpaceModel.__table__, m.SpaceModel.llm_model_id == world.target
    )
    assert on_target == 1  # only the owner's own space


@pytest.mark.parametrize("late", sorted(LATE_WRITES))
async def test_scope_holds_across_a_pause_and_resume(
    make_runtime: Callable[..., Awaitable[Runtime]], factory: Factory, late: str
) -> None:
    runtime = await make_runtime(batch_size=2)
    world = await seed_scope_world(factory, apps=6)
    write, code = LATE_WRITES[late]
    request = Request("migration", str(world.source), str(world.target), "t", "paused", True)
    paused: list[str] = []

    async def pause_after_the_first_batch(label: str, moved: int) -> None:
        if not paused:
            paused.append((await pause_request(runtime, "paused", actor="ops")).status)

    result = await run_request(runtime, request, after_batch=pause_after_the_first_batch)
    assert (paused, result.status, result.counts) == (["paused"], "paused", {"apps": 2})
    # While it is paused, rows it was not admitted for are written onto the source.
    assert await write_late(factory, world, write)

    resumed = await resume_request(runtime, "paused", actor="ops")
    assert resumed.status == "pending"
    with pytest.raises(RequestRefused, match=code):
        await run_request(runtime, request)
    row = await factory.request("paused")
    assert row.status == "failed" and code in row.warnings
    assert await late_rows_on_source(factory, world) > 0
    assert (await factory.get_model(world.source)).migrated_to_model_id is None


@pytest.mark.parametrize("late", sorted(LATE_WRITES))
async def test_a_request_for_its_team_leaves_other_teams_rows_and_keeps_its_level_rule(
    make_runtime: Callable[..., Awaitable[Runtime]], factory: Factory, late: str
) -> None:
    """Named teams: another team's late rows are simply not the request's business (it
    succeeds without them and keeps the source live); a space of its own team above the
    target's level still refuses it."""
    runtime = await make_runtime(batch_size=2)
    world = await seed_scope_world(factory, apps=6)
    write, code = LATE_WRITES[late]
    written: list[bool] = []

    async def write_after_the_first_batch(label: str, moved: int) -> None:
        if not written:
            written.append(await write_late(factory, world, write))

    owner = (str(world.owner),)
    request = Request("migration", str(world.source), str(world.target), "t", "mine", True, owner)
    if code == "security_level_insufficient":
        with pytest.raises(RequestRefused, match=code):
            await run_request(runtime, request, after_batch=write_after_the_first_batch)
    else:
        result = await run_request(runtime, request, after_batch=write_after_the_first_batch)
        assert (result.status, result.source_retired) == ("succeeded", False), result
        assert result.counts == {"apps": world.apps, "spaces": 1}

    assert written == [True]
    left = 2 if code == "team_scope_mismatch" else 1  # their assistant and space, or my space
    assert await late_rows_on_source(factory, world) == left
    assert (await factory.get_model(world.source)).migrated_to_model_id is None


async def test_another_teams_space_above_the_level_does_not_refuse_a_request_for_mine(
    runtime: Runtime, factory: Factory
) -> None:
    world = await seed_scope_world(factory, apps=1)
    theirs = await factory.model("theirs-before", security_level=1)
    await factory.space(world.other, [world.source, theirs], required_security_level=5)
    everyone = Request("migration", str(world.source), str(theirs), "t", "everyone", True)
    refused = await run_request(runtime, everyone)
    assert "security_level_insufficient" in refused.codes, refused

    mine = (str(world.owner),)
    request = Request("migration", str(world.source), str(world.target), "t", "mine", True, mine)
    result = await run_request(runtime, request)
    assert (result.status, result.counts) == ("succeeded", {"apps": 1, "spaces": 1})
    assert await late_rows_on_source(factory, world) == 1  # the other team's space


async def test_global_configuration_written_meanwhile_refuses_a_custom_target(
    make_runtime: Callable[..., Awaitable[Runtime]], factory: Factory
) -> None:
    """Rows of no team (a global template) written during the run are outside a custom
    target's scope, as admission counts them: the final transaction refuses with
    team_scope_mismatch, moves none of them and leaves the source live — the same rule at
    both ends, not a silent success that keeps the source."""
    runtime = await make_runtime(batch_size=2)
    world = await seed_scope_world(factory, apps=6)
    written: list[bool] = []

    async def global_template(conn: AsyncConnection, w: object) -> None:
        await conn.execute(
            insert(m.Template.__table__).values(
                team_id=None, name="late global", llm_model_id=world.source
            )
        )

    async def write_after_the_first_batch(label: str, moved: int) -> None:
        if not written:
            written.append(await write_late(factory, world, global_template))

    request = Request("migration", str(world.source), str(world.target), "t", "global", True)
    with pytest.raises(RequestRefused, match="team_scope_mismatch") as refused:
        await run_request(runtime, request, after_batch=write_after_the_first_batch)

    assert written == [True]
    assert "1 templates; they were not moved" in str(refused.value)
    row = await factory.request("global")
    assert row.status == "failed" and "team_scope_mismatch" in row.warnings
    on_source = m.Template.llm_model_id == world.source
    assert await factory.count(m.Template.__table__, on_source) == 1
    assert (await factory.get_model(world.source)).migrated_to_model_id is None
