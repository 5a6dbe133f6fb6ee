"""Controls on a request whose job has not started yet, on every platform: a pause or
cancel holds before the first batch, a resume queues one job however often it is asked,
and a re-run of a cancelled request's key moves nothing."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from jobs.request_admission import admit_request
from jobs.request_control import (
    RequestControlError,
    cancel_request,
    list_requests,
    pause_request,
    resume_request,
)
from jobs.request_execution import execute_request, run_request
from tests.conftest import PlatformUnderTest
from tests.platforms import every_platform
from tests.platforms.drivers import HostDriver
from tests.platforms.lifecycle import migration, model_state

pytestmark = every_platform


async def world(driver: HostDriver) -> tuple[Any, Any, dict[str, int]]:
    a, b = await driver.model("ctl-a"), await driver.model("ctl-b")
    team = await driver.team()
    for kind in driver.kinds:
        await driver.live_reference(team, a, kind)
    return a, b, await driver.live_counts(a)


async def test_paused_before_its_job_starts_then_resumed_once(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    a, b, live = await world(driver)
    request = migration(a, b)
    request_id, rejection = await admit_request(runtime, request)
    assert rejection is None and request_id is not None

    paused = await pause_request(runtime, request.request_key, actor="ops")
    assert (paused.status, paused.changed, paused.counts) == ("paused", True, {})
    again = await pause_request(runtime, request.request_key, actor="ops")
    assert (again.status, again.changed) == ("paused", False)
    # The job, when it comes, answers with the paused request and moves nothing.
    result = await execute_request(runtime, request_id)
    assert result.status == "paused"
    assert await driver.live_counts(a) == live

    queued: list[tuple[str, dict[str, Any], str]] = []

    async def enqueue(job: str, payload: dict[str, Any], key: str) -> None:
        queued.append((job, payload, key))

    recording = dataclasses.replace(runtime, enqueue=enqueue)
    first = await resume_request(recording, request.request_key, actor="ops")
    second = await resume_request(recording, request.request_key, actor="ops")
    assert (first.status, first.changed, second.changed) == ("pending", True, False)
    assert first.job_id == second.job_id
    assert queued[0] == queued[1]
    job, payload, _ = queued[0]
    assert (job, payload["request_key"], payload["source"]) == (
        "migrate_model",
        request.request_key,
        str(a),
    )

    done = await run_request(runtime, request)
    assert done.status == "succeeded"
    assert await driver.live_counts(b) == live
    with pytest.raises(RequestControlError, match=r"request_not_paused: .* is succeeded"):
        await resume_request(recording, request.request_key, actor="ops")
    assert len(queued) == 2


async def test_cancelled_before_its_job_starts_moves_nothing_and_frees_the_source(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    a, b, live = await world(driver)
    request = migration(a, b)
    await admit_request(runtime, request)
    cancelled = await cancel_request(runtime, request.request_key, actor="ops")
    assert (cancelled.status, cancelled.changed) == ("cancelled", True)

    # A re-run of its key (the queued job, or a client's retry) moves nothing.
    assert (await run_request(runtime, request)).status == "cancelled"
    assert await driver.live_counts(a) == live
    state = await model_state(runtime, a)
    assert state.migrated_to_model_id is None and state.deleted_at is None
    with pytest.raises(RequestControlError, match=r"request_not_paused: .* is cancelled"):
        await resume_request(runtime, request.request_key, actor="ops")

    # The source is free: a new request takes it.
    other = await run_request(runtime, migration(a, b))
    assert other.status == "succeeded"
    assert await driver.live_counts(b) == live


async def test_a_teams_custom_model_is_listed_and_answered_with_its_team(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    team = await driver.team()
    await driver.model("ctl-same")  # the global model of the same name
    custom = await driver.model("ctl-same", team=team)
    target = await driver.model("ctl-next", team=team)
    await driver.live_reference(team, custom, driver.kinds[0])
    request = migration(custom, target)
    request_id, rejection = await admit_request(runtime, request)
    assert rejection is None and request_id is not None

    paused = await pause_request(runtime, request.request_key, actor="ops")
    assert paused.source.team_id == str(team) == paused.target.team_id
    [listed] = [r for r in await list_requests(runtime) if r.request_key == request.request_key]
    assert (listed.source.name, listed.source.team_id) == ("ctl-same", str(team))
    assert listed.target is not None and listed.target.team_id == str(team)
