"""Notifications on every host platform: the host's own permission model decides who is
told, once per permitted member of each affected team."""

from __future__ import annotations

from datetime import date

from jobs.migration import run_request
from tests.conftest import PlatformUnderTest
from tests.platforms import every_platform
from tests.platforms.drivers import PLAIN
from tests.platforms.lifecycle import fan_out_all, migration, notified

pytestmark = every_platform

TODAY = date(2026, 11, 21)


async def test_one_notification_per_permitted_member_of_each_affected_team(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    a, b = await driver.model("xp-a"), await driver.model("xp-b")
    first, second, unaffected = await driver.team(), await driver.team(), await driver.team()
    told = [await driver.member(first), await driver.member(first), await driver.member(second)]
    await driver.member(first, permitted=False)
    await driver.member(second, permitted=False)
    if driver.has_do_not_disturb:
        await driver.member(first, do_not_disturb=True)
    await driver.member(unaffected)
    await driver.live_reference(first, a, PLAIN)
    await driver.live_reference(second, a, PLAIN)

    result = await run_request(runtime, migration(a, b), today=TODAY)
    assert result.status == "succeeded", result
    await fan_out_all(runtime)

    teams = {told[0][0]: first, told[1][0]: first, told[2][0]: second}
    expected = sorted((str(teams[user]), str(user)) for user, _ in told)
    assert await notified(runtime) == expected

    await fan_out_all(runtime, again=True)
    await run_request(runtime, migration(a, b, key=result.request_key), today=TODAY)
    await fan_out_all(runtime)
    assert await notified(runtime) == expected
