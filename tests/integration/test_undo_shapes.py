"""Undo of the shapes only some platforms have (here on the reference platform, whose
spaces are a link table and whose assistants carry model parameters), and of the
no-chains re-pointing of models, on every platform."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import text

from jobs.request_execution import run_request
from jobs.request_result import UndoResult
from jobs.runtime import Runtime
from jobs.undo import UndoRequestPayload, undo_request
from tests.conftest import PlatformUnderTest
from tests.factories import Factory
from tests.platforms import every_platform
from tests.platforms.drivers import PLAIN
from tests.platforms.lifecycle import migration, model_state


async def undo(runtime: Runtime, key: str) -> UndoResult:
    return await undo_request(runtime, UndoRequestPayload(request_key=key, requested_by="ops"))


async def links(runtime: Runtime, space: uuid.UUID) -> set[uuid.UUID]:
    async with runtime.engine.connect() as conn:
        found = await conn.scalars(
            text("SELECT llm_model_id FROM space_models WHERE space_id = :s"), {"s": space}
        )
        return set(found)


async def test_a_space_that_had_both_models_keeps_both(runtime: Runtime, factory: Factory) -> None:
    team = await factory.team()
    source, target = await factory.model("ln-source"), await factory.model("ln-target")
    both = await factory.space(team, [source, target])
    only_source = await factory.space(team, [source])
    request = migration(source, target)
    assert (await run_request(runtime, request)).status == "succeeded"
    assert await links(runtime, both) == {target}
    assert await links(runtime, only_source) == {target}

    result = await undo(runtime, request.request_key)

    assert result.restored == {"spaces": 2}
    assert await links(runtime, both) == {source, target}, "its own target link stays"
    assert await links(runtime, only_source) == {source}, "the link the request added goes"


async def test_a_space_whose_added_link_was_removed_since_is_left_alone(
    runtime: Runtime, factory: Factory
) -> None:
    team = await factory.team()
    source, target = await factory.model("ln-source"), await factory.model("ln-target")
    space = await factory.space(team, [source])
    request = migration(source, target)
    await run_request(runtime, request)
    async with runtime.engine.begin() as conn:
        await conn.execute(text("DELETE FROM space_models WHERE space_id = :s"), {"s": space})

    result = await undo(runtime, request.request_key)

    assert (result.restored, result.changed_since) == ({}, {"spaces": 1})
    assert await links(runtime, space) == set()


async def test_parameters_come_back_byte_for_byte(runtime: Runtime, factory: Factory) -> None:
    team = await factory.team()
    source = await factory.model("gpt-4o-mini")
    target = await factory.model("o3-mini", supports_reasoning=True)
    written = {
        "max_tokens": 512,
        "temperature": 0.20,
        "top_p": 0.9,
        "stop": ["\n\n", "END"],
        "nested": {"b": 1.50, "a": None},
    }
    assistant = await factory.assistant(team, source, model_parameters=written)
    before = await _parameters_text(runtime, assistant)
    request = migration(source, target)
    assert (await run_request(runtime, request)).status == "succeeded"
    assert await _parameters_text(runtime, assistant) != before, "the move translated them"

    await undo(runtime, request.request_key)

    assert await _parameters_text(runtime, assistant) == before
    assert json.loads(before)["nested"]["b"] == 1.50


async def _parameters_text(runtime: Runtime, assistant: uuid.UUID) -> str:
    async with runtime.engine.connect() as conn:
        value = await conn.scalar(
            text("SELECT CAST(model_parameters AS text) FROM assistants WHERE id = :a"),
            {"a": assistant},
        )
    return str(value)


@every_platform
async def test_models_re_pointed_by_the_request_point_at_the_source_again(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    team = await driver.team()
    older, source, target = [await driver.model(n) for n in ("rp-older", "rp-src", "rp-dst")]
    for model in (older, source):
        await driver.live_reference(team, model, PLAIN)
    assert (await run_request(runtime, migration(older, source))).status == "succeeded"
    request = migration(source, target)
    assert (await run_request(runtime, request)).status == "succeeded"
    assert (await model_state(runtime, older)).migrated_to_model_id == target, "no chains"

    result = await undo(runtime, request.request_key)

    assert result.pointers == {"migrated_pointers": 1, "replacement_pointers": 0}
    assert result.source_mark_cleared is True
    assert (await model_state(runtime, older)).migrated_to_model_id == source
    assert (await model_state(runtime, source)).migrated_to_model_id is None


async def test_undo_unavailable_for_requests_without_a_journal_or_that_changed_nothing(
    runtime: Runtime, factory: Factory
) -> None:
    a, b = await factory.model("nj-a"), await factory.model("nj-b")
    await factory.app(await factory.team(), b)
    before_journal = await factory.model_migration_row(a, b, request_key="old-one")
    rejected = await factory.model_migration_row(
        a, b, request_key="refused-one", status="rejected", journaled=True
    )
    assert before_journal and rejected

    for key, why in (("old-one", "before requests kept a journal"), ("refused-one", "nothing")):
        answer = await undo(runtime, key)
        assert (answer.status, answer.codes) == ("rejected", ["undo_unavailable"])
        assert why in answer.error
        assert (await factory.request(key)).status == answer.request_status


async def test_an_active_request_is_not_undone(runtime: Runtime, factory: Factory) -> None:
    a, b = await factory.model("act-a"), await factory.model("act-b")
    await factory.model_migration_row(
        a, b, request_key="still-running", status="running", journaled=True
    )

    answer = await undo(runtime, "still-running")

    assert answer.codes == ["migration_in_progress"]
    assert (await factory.request("still-running")).status == "running"
