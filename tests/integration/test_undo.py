"""Undo of a finished migration or deletion, on every platform: every row the request
changed that still holds what it wrote gets its previous value back (the host's rows end
as they were, byte for byte), rows changed since are left and counted, the source's mark
and re-pointed models are reversed, and an undo run twice is an undo run once."""

from __future__ import annotations

import pytest

from db.keys import HostId
from jobs.errors import PermanentJobError
from jobs.request_admission import admit_request
from jobs.request_control import cancel_request
from jobs.request_execution import execute_request, run_request
from jobs.request_result import UndoResult
from jobs.runtime import Runtime
from jobs.undo import UndoRequestPayload, undo_request
from tests.conftest import PlatformUnderTest
from tests.platforms import every_platform
from tests.platforms.drivers import REQUIRED, HostDriver
from tests.platforms.lifecycle import (
    deletion,
    events,
    fan_out_all,
    migration,
    model_state,
    rows,
    tally,
)

pytestmark = every_platform


async def world(driver: HostDriver) -> tuple[HostId, HostId, dict[str, int]]:
    """A source used twice by every kind of live reference a platform has (its JSON ids
    in every spelling the host writes), a not-live row, and a reasoning-model target (so
    carried parameters change)."""
    source, target = await driver.model("gpt-4o-mini"), await driver.model("o3-mini")
    team = await driver.team()
    await driver.member(team)
    labels: list[str] = []
    for kind in driver.kinds:
        for _ in range(2):
            labels += await driver.live_reference(team, source, kind)
    for spelled in driver.json_spellings(source).values():
        labels += await driver.json_reference(team, source, spelled)
    await driver.not_live_reference(team, source)
    return source, target, tally(labels)


async def host_rows(driver: HostDriver) -> dict[str, str]:
    """A checksum of every host table but the model table (whose update times move)."""
    return {t: s for t, s in (await driver.host_checksum()).items() if t != driver.model_table}


async def undo(runtime: Runtime, key: str, *, dry_run: bool = False) -> UndoResult:
    payload = UndoRequestPayload(request_key=key, requested_by="ops", dry_run=dry_run)
    return await undo_request(runtime, payload)


async def test_undo_after_success_puts_every_row_and_the_source_back(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    source, target, live = await world(driver)
    before = await host_rows(driver)
    request = migration(source, target)
    done = await run_request(runtime, request)
    assert done.status == "succeeded", done
    assert await host_rows(driver) != before
    assert (await model_state(runtime, source)).migrated_to_model_id == target

    dry = await undo(runtime, request.request_key, dry_run=True)
    assert (dry.status, dry.restored, dry.changed_since) == ("succeeded", live, {})
    assert await driver.live_counts(target) == live, "a dry run changes nothing"

    result = await undo(runtime, request.request_key)

    assert (result.status, result.restored, result.changed_since) == ("undone", live, {})
    assert await host_rows(driver) == before
    state = await model_state(runtime, source)
    assert state.migrated_to_model_id is None and state.deleted_at is None
    [event] = [e for e in await events(runtime) if e.slug == "llm-model-migration-undone"]
    assert (event.model_id, list(event.payload.values())) == (str(source), [live])
    await fan_out_all(runtime)
    told = await rows(
        runtime, "SELECT title FROM notifications WHERE slug = 'llm-model-migration-undone'"
    )
    assert [n.title for n in told] == [
        "openai:gpt-4o-mini is back: the move to openai:o3-mini was undone"
    ]
    [audit] = await rows(
        runtime, "SELECT actor, details FROM audit_events WHERE action = 'model.request_undone'"
    )
    assert (audit.actor, audit.details["restored"]) == ("ops", live)


async def test_undo_twice_is_undo_once(platform: PlatformUnderTest) -> None:
    driver, runtime = platform.driver, platform.runtime
    source, target, live = await world(driver)
    before = await host_rows(driver)
    request = migration(source, target)
    await run_request(runtime, request)

    first = await undo(runtime, request.request_key)
    again = await undo(runtime, request.request_key)

    assert first.status == again.status == "undone"
    assert again.restored == first.restored == live
    assert again.changed_since == {}
    assert await host_rows(driver) == before
    audits = await rows(runtime, "SELECT 1 FROM audit_events WHERE action = 'model.request_undone'")
    undone = [e for e in await events(runtime) if e.slug == "llm-model-migration-undone"]
    assert (len(audits), len(undone)) == (1, 1)


async def test_rows_changed_since_are_left_and_counted(platform: PlatformUnderTest) -> None:
    driver, runtime = platform.driver, platform.runtime
    source, target, live = await world(driver)
    other = await driver.model("gpt-4o")
    request = migration(source, target)
    await run_request(runtime, request)
    edited = await driver.edit_one_reference(target, other)

    dry = await undo(runtime, request.request_key, dry_run=True)
    result = await undo(runtime, request.request_key)

    expected = {**live, edited: live[edited] - 1}
    for answer in (dry, result):
        assert answer.restored == expected
        assert answer.changed_since == {edited: 1}
    assert await driver.live_counts(other) == {edited: 1}, "the team's edit is kept"


async def test_undo_after_a_cancel_puts_back_what_moved(platform: PlatformUnderTest) -> None:
    driver, runtime = platform.driver, platform.runtime
    source, target, live = await world(driver)
    before = await host_rows(driver)
    request = migration(source, target)
    request_id, _ = await admit_request(runtime, request)
    assert request_id is not None

    async def cancel_after_first(label: str, moved: int) -> None:
        await cancel_request(runtime, request.request_key, actor="ops")

    cancelled = await execute_request(runtime, request_id, after_batch=cancel_after_first)
    assert cancelled.status == "cancelled"
    moved = await driver.live_counts(target)
    assert moved and moved != live

    result = await undo(runtime, request.request_key)

    assert (result.status, result.restored) == ("undone", moved)
    assert await host_rows(driver) == before


async def test_undo_after_a_failure_puts_back_what_moved(platform: PlatformUnderTest) -> None:
    driver, runtime = platform.driver, platform.runtime
    source, target, _ = await world(driver)
    before = await host_rows(driver)
    request = migration(source, target)
    request_id, _ = await admit_request(runtime, request)
    assert request_id is not None

    async def fail_after_first(label: str, moved: int) -> None:
        raise PermanentJobError("the host went away")

    with pytest.raises(PermanentJobError):
        await execute_request(runtime, request_id, after_batch=fail_after_first)
    moved = await driver.live_counts(target)
    assert moved

    result = await undo(runtime, request.request_key)

    assert (result.status, result.restored) == ("undone", moved)
    assert await host_rows(driver) == before


async def test_undo_of_a_deletion_without_replacement(platform: PlatformUnderTest) -> None:
    driver, runtime = platform.driver, platform.runtime
    team = await driver.team()
    source = await driver.model("gone")
    # Every kind a deletion may clear (a required reference would need a replacement).
    for kind in driver.kinds:
        if kind != REQUIRED:
            await driver.live_reference(team, source, kind)
    before = await host_rows(driver)
    request = deletion(source)
    done = await run_request(runtime, request)
    assert done.status == "succeeded", done
    assert (await model_state(runtime, source)).deleted_at is not None
    assert await host_rows(driver) != before

    result = await undo(runtime, request.request_key)

    assert result.status == "undone" and result.restored == done.counts
    assert await host_rows(driver) == before
    assert (await model_state(runtime, source)).deleted_at is None


async def test_refused_while_another_request_holds_the_source_or_the_target(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    source, target, live = await world(driver)
    spare = await driver.model("spare")
    request = migration(source, target)
    await run_request(runtime, request)
    # The target is now the source of a request that waits (admitted, not run).
    holder, _ = await admit_request(runtime, migration(target, spare))
    assert holder is not None

    refused = await undo(runtime, request.request_key)

    assert (refused.status, refused.codes) == ("rejected", ["migration_in_progress"])
    assert refused.request_status == "succeeded"
    assert await driver.live_counts(target) == live, "nothing was put back"
    answer = await undo(runtime, request.request_key, dry_run=True)
    assert answer.codes == ["migration_in_progress"]
    state = await model_state(runtime, source)
    assert state.migrated_to_model_id == target


async def test_refused_while_a_new_request_holds_the_source(platform: PlatformUnderTest) -> None:
    driver, runtime = platform.driver, platform.runtime
    source, target, _ = await world(driver)
    request = migration(source, target)
    request_id, _ = await admit_request(runtime, request)
    assert request_id is not None

    async def cancel_after_first(label: str, moved: int) -> None:
        await cancel_request(runtime, request.request_key, actor="ops")

    await execute_request(runtime, request_id, after_batch=cancel_after_first)
    moved = await driver.live_counts(target)
    # The cancelled request freed its source: a new one takes it and waits.
    holder, _ = await admit_request(runtime, migration(source, await driver.model("later")))
    assert holder is not None

    refused = await undo(runtime, request.request_key)

    assert (refused.codes, refused.request_status) == (
        ["migration_in_progress"],
        "cancelled",
    )
    assert await driver.live_counts(target) == moved


async def test_json_ids_come_back_in_the_form_they_were_written(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    team = await driver.team()
    source, target = await driver.model("js-source"), await driver.model("js-target")
    spellings = driver.json_spellings(source)
    for spelled in spellings.values():
        await driver.json_reference(team, source, spelled)
    before = await host_rows(driver)
    request = migration(source, target)
    assert (await run_request(runtime, request)).status == "succeeded"
    assert await driver.json_naming(source) == 0

    await undo(runtime, request.request_key)

    assert await driver.json_naming(source) == len(spellings)
    assert await host_rows(driver) == before, "each id in the form it was written"
