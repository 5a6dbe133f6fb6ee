"""The cross-platform fixtures themselves: each platform's database checks out against its
mapping, and its driver's rows are what the mapping describes."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from db.keys import parse_host_id
from tests.conftest import PlatformUnderTest
from tests.platforms import every_platform
from worker.platform import configured_mapping, run_platform_check

pytestmark = every_platform


async def test_the_database_checks_out_against_the_platform_mapping(
    platform: PlatformUnderTest,
) -> None:
    report = await run_platform_check(platform.settings())
    assert report.ok, [f"{f.subject}: {f.message}" for f in report.errors]
    assert report.platform == platform.name


async def test_driver_references_count_under_their_labels(platform: PlatformUnderTest) -> None:
    driver = platform.driver
    team = await driver.team()
    model = await driver.model("fixture-model")
    expected: dict[str, int] = {}
    for kind in driver.kinds:
        for label in await driver.live_reference(team, model, kind):
            expected[label] = expected.get(label, 0) + 1
    await driver.not_live_reference(team, model)
    if driver.has_history:
        await driver.history_reference(team, model)

    assert await driver.live_counts(model) == expected
    assert await driver.not_live_count(model) >= 1
    assert await driver.history_count(model) == (1 if driver.has_history else 0)
    assert await driver.copy_disagreements() == 0
    assert await driver.model_row(model) == {
        "provider": "openai",
        "name": "fixture-model",
        "team": None,
        "token_limit": 128_000,
    }


async def test_recipients_are_permitted_members_not_in_do_not_disturb(
    platform: PlatformUnderTest,
) -> None:
    driver = platform.driver
    team, other = await driver.team(), await driver.team()
    told = {await driver.member(team), await driver.member(other)}
    await driver.member(team, permitted=False)
    if driver.has_do_not_disturb:
        await driver.member(team, do_not_disturb=True)

    query = configured_mapping(platform.settings()).recipients.query
    params: dict[str, object] = {"team_ids": [team, other]}
    if ":permission" in query:
        params["permission"] = "manage_models"
    async with driver.engine.connect() as conn:
        found = {(r.user_id, r.email) for r in await conn.execute(text(query), params)}
    assert found == told


async def test_an_unmapped_holder_makes_a_raw_delete_fail(platform: PlatformUnderTest) -> None:
    driver = platform.driver
    model = await driver.model()
    await driver.unmapped_restrict(model)
    before = await driver.host_checksum()
    # On a host with deferred foreign keys the DELETE itself succeeds; COMMIT fails.
    with pytest.raises(IntegrityError):
        await driver.delete_model_row(model)
    assert await driver.model_exists(model)
    assert await driver.host_checksum() == before


async def test_the_fault_suites_fleet_is_what_it_reports(platform: PlatformUnderTest) -> None:
    driver = platform.driver
    fleet = await driver.seed_fleet(teams=2, per_team=20)
    source = parse_host_id(fleet["source"])
    assert sum((await driver.live_counts(source)).values()) == fleet["live_rows"]
    assert await driver.live_counts(parse_host_id(fleet["target"])) == {}
    assert await driver.copy_disagreements() == 0
    assert (fleet["teams"], fleet["recipients"]) == (2, 4)
