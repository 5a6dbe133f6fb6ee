"""Weekly cleanup on every host platform: retired models nothing refers to are removed;
a row the mapping does not know that still holds a model makes it a ``db_restrict`` skip,
with nothing half-done."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import pytest

from db.keys import HostId
from jobs.cleanup import CleanupPayload, catch_up_cleanup, cleanup_retired_models
from jobs.migration import run_request
from jobs.runtime import Runtime
from tests.conftest import PlatformUnderTest
from tests.platforms import every_platform
from tests.platforms.drivers import PLAIN, HostDriver
from tests.platforms.lifecycle import Recorder, deletion, migration, model_state, rows, tally

pytestmark = every_platform

TODAY = date(2026, 11, 21)


@pytest.fixture(autouse=True)
def no_undo_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """These models are retired by requests that could still be undone: with the undo
    window off, the cleanup takes them at once (tests/integration/test_undo_window.py
    covers the window)."""
    monkeypatch.setenv("LIFECYCLE_UNDO_DAYS", "0")


async def migrated(
    runtime: Runtime, driver: HostDriver, team: HostId, target: HostId, name: str
) -> tuple[HostId, dict[str, int]]:
    """A model that had live configuration in ``team`` and is now migrated to ``target``;
    with the references that moved, by label."""
    model = await driver.model(name)
    labels = await driver.live_reference(team, model, PLAIN)
    result = await run_request(runtime, migration(model, target), today=TODAY)
    assert result.status == "succeeded", result
    return model, tally(labels)


async def cleanup(runtime: Runtime) -> dict[str, Any]:
    return await cleanup_retired_models(runtime, CleanupPayload(dry_run=False))


def names(entries: list[dict[str, Any]]) -> list[str]:
    return sorted(e["name"] for e in entries)


async def test_a_migrated_model_nothing_refers_to_is_hard_deleted(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    team = await driver.team()
    target = await driver.model("xp-target")
    gone, moved = await migrated(runtime, driver, team, target, "xp-gone")

    report = await cleanup(runtime)

    assert names(report["removed"]) == ["xp-gone"]
    assert report["errors"] == [] and report["skipped"] == []
    assert not await driver.model_exists(gone)
    assert await model_state(runtime, gone) is None
    assert await driver.model_exists(target)
    assert await driver.live_counts(target) == moved


async def test_rows_that_are_not_live_are_repointed_to_the_successor_first(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    team = await driver.team()
    target = await driver.model("xp-target")
    old = await driver.model("xp-old")
    await driver.not_live_reference(team, old)
    kept = await driver.not_live_count(old)
    result = await run_request(runtime, migration(old, target), today=TODAY)
    assert result.status == "succeeded", result

    report = await cleanup(runtime)

    assert names(report["removed"]) == ["xp-old"] and report["errors"] == []
    assert not await driver.model_exists(old)
    assert await driver.not_live_count(old) == 0
    assert await driver.not_live_count(target) == kept
    assert await driver.copy_disagreements() == 0


async def test_a_model_held_by_an_unmapped_row_is_skipped_with_nothing_half_done(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    team = await driver.team()
    target = await driver.model("xp-target")
    held, _ = await migrated(runtime, driver, team, target, "xp-held")
    await driver.not_live_reference(team, held)
    await driver.unmapped_restrict(held)
    free, _ = await migrated(runtime, driver, team, target, "xp-free")
    state = await model_state(runtime, held)
    row = await driver.model_row(held)
    not_live = await driver.not_live_count(held)

    report = await cleanup(runtime)

    assert names(report["removed"]) == ["xp-free"] and report["errors"] == []
    assert [(s["name"], s["reason"]) for s in report["skipped"]] == [("xp-held", "db_restrict")]
    assert not await driver.model_exists(free)
    # Everything about the held model is as before: its row, its state, the rows that
    # are not live still naming it (their repointing rolled back with the delete).
    assert await driver.model_row(held) == row
    after = await model_state(runtime, held)
    assert (after.migrated_to_model_id, after.deleted_at) == (
        state.migrated_to_model_id,
        state.deleted_at,
    )
    assert await driver.not_live_count(held) == not_live


async def test_a_cleanup_that_can_only_skip_leaves_the_host_as_it_was(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    team = await driver.team()
    target = await driver.model("xp-target")
    held, _ = await migrated(runtime, driver, team, target, "xp-held")
    await driver.not_live_reference(team, held)
    await driver.unmapped_restrict(held)
    host = await driver.host_checksum()

    first = await cleanup(runtime)
    again = await cleanup(runtime)

    for report in (first, again):
        assert report["removed"] == [] and report["errors"] == []
        assert [s["reason"] for s in report["skipped"]] == ["db_restrict"]
    assert await driver.host_checksum() == host


# LIFECYCLE_CLEANUP_MODE ------------------------------------------------------------------
DEFAULT_MODE = {"reference": "delete", "open-chat-studio": "report"}


async def retired(runtime: Runtime, driver: HostDriver, name: str) -> HostId:
    """A model nothing refers to, soft-deleted before any cleanup ran."""
    model = await driver.model(name)
    result = await run_request(runtime, deletion(model), today=TODAY)
    assert result.status == "succeeded", result
    return model


@pytest.mark.parametrize("trigger", ["cron", "catch_up"])
async def test_scheduled_runs_follow_the_platforms_default_mode(
    platform: PlatformUnderTest, trigger: str
) -> None:
    """The reference platform deletes; on a mapped host a scheduled run only reports,
    naming what ``delete`` would remove, and counts as the week's run."""
    driver, runtime = platform.driver, platform.runtime
    model = await retired(runtime, driver, "xp-retired")
    mode = DEFAULT_MODE[platform.name]
    assert runtime.settings.cleanup_mode == mode

    report = await cleanup_retired_models(runtime, CleanupPayload(trigger=trigger))

    assert (report["mode"], report["dry_run"]) == (mode, mode == "report")
    assert names(report["removed"]) == ["xp-retired"] and report["errors"] == []
    assert await driver.model_exists(model) is (mode == "report")
    [run] = await rows(runtime, "SELECT dry_run, trigger, summary FROM lifecycle_runs")
    assert (run.dry_run, run.trigger, run.summary["mode"]) == (mode == "report", trigger, mode)
    assert names(run.summary["removed"]) == ["xp-retired"]
    recorder = Recorder()
    await catch_up_cleanup(dataclasses.replace(runtime, enqueue=recorder))
    assert recorder.calls == []  # this run was the week's, in either mode


@pytest.mark.parametrize("mode", ["delete", "report"])
async def test_the_setting_overrides_the_default_on_every_platform(
    platform: PlatformUnderTest, make_runtime: Callable[..., Awaitable[Runtime]], mode: str
) -> None:
    driver = platform.driver
    runtime = await make_runtime(cleanup_mode=mode)
    model = await retired(runtime, driver, "xp-retired")

    report = await cleanup_retired_models(runtime, CleanupPayload(trigger="catch_up"))

    assert report["mode"] == mode and names(report["removed"]) == ["xp-retired"]
    assert await driver.model_exists(model) is (mode == "report")


async def test_an_operators_run_does_what_it_asks_whatever_the_mode(
    platform: PlatformUnderTest, make_runtime: Callable[..., Awaitable[Runtime]]
) -> None:
    driver = platform.driver
    runtime = await make_runtime(cleanup_mode="report")
    model = await retired(runtime, driver, "xp-retired")

    dry = await cleanup_retired_models(runtime, CleanupPayload(dry_run=True))
    assert (dry["mode"], names(dry["removed"])) == ("dry_run", ["xp-retired"])
    assert await driver.model_exists(model)
    recorder = Recorder()
    await catch_up_cleanup(dataclasses.replace(runtime, enqueue=recorder))
    assert len(recorder.calls) == 1  # an operator's dry run is not the week's run

    done = await cleanup_retired_models(runtime, CleanupPayload())
    assert (done["mode"], names(done["removed"])) == ("delete", ["xp-retired"])
    assert not await driver.model_exists(model)
