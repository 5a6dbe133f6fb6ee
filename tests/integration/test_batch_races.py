"""A batch reads its rows without locking them and its UPDATE re-checks each row as it
finds it: a host writer who changes a row while a batch waits for it keeps the change,
and the journal (and so the undo) says what the request actually overwrote."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from sqlalchemy import text

from jobs.request_admission import Request
from jobs.request_execution import run_request
from jobs.request_result import RequestResult, UndoResult
from jobs.runtime import Runtime
from jobs.undo import UndoRequestPayload, undo_request
from tests.conftest import PlatformUnderTest
from tests.factories import Factory
from tests.integration.test_parameters import params_of
from tests.platforms import every_platform
from tests.platforms.lifecycle import migration, tally
from tests.services import wait_until_blocked_on_a_lock


async def _run_while_held(
    runtime: Runtime, request: Request, commit: Callable[[], Awaitable[None]]
) -> RequestResult:
    """Run ``request`` while a host transaction holds a row its first batch takes; commit
    that transaction (``commit()``) once the batch waits for the row."""
    running = asyncio.create_task(run_request(runtime, request))
    await wait_until_blocked_on_a_lock(runtime.engine)
    await commit()
    return await running


async def _undo(runtime: Runtime, key: str) -> UndoResult:
    return await undo_request(runtime, UndoRequestPayload(request_key=key, requested_by="ops"))


@every_platform
async def test_a_row_the_host_repoints_while_a_batch_waits_keeps_the_hosts_choice(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    source, target = await driver.model("gpt-4o-mini"), await driver.model("gpt-4o")
    other = await driver.model("gpt-4.1")
    team = await driver.team()
    labels: list[str] = []
    for kind in driver.kinds:
        labels += await driver.live_reference(team, source, kind)
    live = tally(labels)
    request = migration(source, target)

    async with driver.engine.connect() as conn:
        held = await conn.begin()
        edited = await driver.edit_one_reference(source, other, conn)
        result = await _run_while_held(runtime, request, held.commit)

    moved = {label: n for label, n in {**live, edited: live[edited] - 1}.items() if n}
    assert result.status == "succeeded", result
    assert result.counts == moved
    assert await driver.live_counts(other) == {edited: 1}, "the host's choice is kept"
    assert await driver.live_counts(target) == moved
    assert await driver.live_counts(source) == {}

    undone = await _undo(runtime, request.request_key)
    assert (undone.restored, undone.changed_since) == (moved, {})
    assert await driver.live_counts(source) == moved
    assert await driver.live_counts(other) == {edited: 1}, "undo leaves the host's row alone"


async def test_parameters_edited_while_a_batch_waits_are_what_the_journal_keeps(
    factory: Factory, runtime: Runtime
) -> None:
    team = await factory.team()
    source = await factory.model("gpt-4o-mini")
    target = await factory.model("gpt-4o")
    assistants = [
        await factory.assistant(team, source, model_parameters={"temperature": 0.2})
        for _ in range(3)
    ]
    # Another row holds the value the edit writes: the request has a rule for it, so the
    # edited row is still one the batch may take.
    await factory.assistant(team, source, model_parameters={"temperature": 0.5})
    edited = assistants[0]
    request = migration(source, target)

    async with runtime.engine.connect() as conn:
        held = await conn.begin()
        await conn.execute(
            text("UPDATE assistants SET model_parameters = :p WHERE id = :id"),
            {"p": json.dumps({"temperature": 0.5}), "id": edited},
        )
        result = await _run_while_held(runtime, request, held.commit)

    assert result.status == "succeeded", result
    assert result.counts == {"assistants": 4}, "the edited row is moved by the sweep"
    assert await params_of(runtime, edited) == {"temperature": 0.5}

    undone = await _undo(runtime, request.request_key)
    assert (undone.restored, undone.changed_since) == ({"assistants": 4}, {})
    assert await params_of(runtime, edited) == {"temperature": 0.5}, (
        "undo puts back the parameters the request overwrote: the host's edit"
    )
    assert [await params_of(runtime, a) for a in assistants[1:]] == [{"temperature": 0.2}] * 2
