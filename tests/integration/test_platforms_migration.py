"""Migration and deletion on every host platform: every kind of live reference moves (JSON
copies with their column), rows that are not live and history stay, counts add up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from db.keys import HostId
from jobs.migration import preview_request, run_request
from tests.conftest import PlatformUnderTest
from tests.platforms import every_platform
from tests.platforms.drivers import REQUIRED, HostDriver
from tests.platforms.lifecycle import deletion, events, migration, model_state, tally

pytestmark = every_platform

TODAY = date(2026, 11, 21)


@dataclass(frozen=True)
class World:
    """Two teams using model ``a`` through every kind of reference the platform has."""

    a: HostId
    b: HostId
    teams: dict[str, dict[str, int]]  # {team id as text: {label: references}}

    @property
    def counts(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for labels in self.teams.values():
            for label, n in labels.items():
                total[label] = total.get(label, 0) + n
        return total


async def build_world(driver: HostDriver, *, kinds: tuple[str, ...] | None = None) -> World:
    a = await driver.model("xp-a", token_limit=8000)
    b = await driver.model("xp-b", token_limit=8000)
    teams = {}
    for _ in range(2):
        team = await driver.team()
        labels: list[str] = []
        for kind in driver.kinds if kinds is None else kinds:
            labels += await driver.live_reference(team, a, kind)
        await driver.not_live_reference(team, a)
        if driver.has_history:
            await driver.history_reference(team, a)
        teams[str(team)] = tally(labels)
    return World(a, b, teams)


async def test_migration_moves_every_live_reference_and_keeps_the_rest(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    world = await build_world(driver)
    not_live, history = await driver.not_live_count(world.a), await driver.history_count(world.a)
    request = migration(world.a, world.b)

    dry = await preview_request(runtime, request, today=TODAY)
    assert dry.status == "ok", dry
    result = await run_request(runtime, request, today=TODAY)

    assert result.status == "succeeded", result
    assert result.counts == world.counts == dry.plan.counts
    assert dry.plan.teams == world.teams
    assert await driver.live_counts(world.a) == {}
    assert await driver.live_counts(world.b) == world.counts
    assert await driver.copy_disagreements() == 0
    assert await driver.not_live_count(world.a) == not_live
    assert await driver.history_count(world.a) == history
    source = await model_state(runtime, world.a)
    assert source.migrated_to_model_id == world.b and source.deleted_at is None
    [event] = await events(runtime)
    assert (event.slug, event.model_id) == ("llm-model-migrated", str(world.a))
    assert event.payload == world.teams


async def test_a_second_run_of_the_migration_changes_nothing(platform: PlatformUnderTest) -> None:
    driver, runtime = platform.driver, platform.runtime
    world = await build_world(driver)
    request = migration(world.a, world.b)
    first = await run_request(runtime, request, today=TODAY)
    host = await driver.host_checksum()

    again = await run_request(runtime, request, today=TODAY)

    assert (again.status, again.counts) == ("succeeded", first.counts)
    assert await driver.host_checksum() == host
    assert len(await events(runtime)) == 1
    refused = await run_request(runtime, migration(world.a, world.b), today=TODAY)
    assert refused.status == "rejected" and "source_migrated" in refused.codes
    assert await driver.host_checksum() == host


async def test_deletion_with_a_replacement_moves_every_live_reference(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    world = await build_world(driver)
    not_live = await driver.not_live_count(world.a)

    result = await run_request(runtime, deletion(world.a, world.b), today=TODAY)

    assert result.status == "succeeded", result
    assert result.counts == world.counts
    assert await driver.live_counts(world.a) == {}
    assert await driver.live_counts(world.b) == world.counts
    assert await driver.copy_disagreements() == 0
    assert await driver.not_live_count(world.a) == not_live
    state = await model_state(runtime, world.a)
    assert state.deleted_at is not None and state.migrated_to_model_id is None
    [event] = await events(runtime)
    assert (event.slug, event.payload) == ("llm-model-deleted", world.teams)


async def test_deletion_without_a_replacement_clears_clearable_references(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    clearable = tuple(k for k in driver.kinds if k != REQUIRED)
    world = await build_world(driver, kinds=clearable)
    cleared_before = await driver.cleared_counts()
    not_live = await driver.not_live_count(world.a)

    dry = await preview_request(runtime, deletion(world.a), today=TODAY)
    result = await run_request(runtime, deletion(world.a), today=TODAY)

    assert result.status == "succeeded", result
    assert result.counts == world.counts == dry.plan.counts
    assert await driver.live_counts(world.a) == {}
    cleared = await driver.cleared_counts()
    assert {
        label: cleared.get(label, 0) - cleared_before.get(label, 0) for label in world.counts
    } == world.counts  # JSON ids are set to null, not left behind
    assert await driver.copy_disagreements() == 0
    assert await driver.not_live_count(world.a) == not_live
    assert (await model_state(runtime, world.a)).deleted_at is not None


async def test_deletion_without_a_replacement_is_refused_while_a_reference_may_not_be_cleared(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    world = await build_world(driver)
    host = await driver.host_checksum()

    result = await run_request(runtime, deletion(world.a), today=TODAY)

    if REQUIRED in driver.kinds:
        assert result.status == "rejected" and "replacement_required" in result.codes
        assert await driver.host_checksum() == host
        assert (await model_state(runtime, world.a)).deleted_at is None
    else:  # every reference on this platform may be cleared
        assert result.status == "succeeded", result
        assert await driver.live_counts(world.a) == {}
