"""Team-scoped requests on every platform (docs/requests-and-rollouts.md): a pilot team first, then
the rest. A request for some teams moves only their live rows (late ones too, in the
final sweep), tells only their members, and retires the source only once no live
reference to it is left; another team's rows, even written during the run, stay."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date
from typing import Any

import pytest

from db.keys import HostId, id_text
from db.queries.notifications import team_names
from jobs.errors import RequestRefused
from jobs.migration import preview_request, run_request
from jobs.request_admission import admit_request
from jobs.request_control import list_requests, pause_request, resume_request
from jobs.request_result import UndoResult
from jobs.runtime import Runtime
from jobs.undo import UndoRequestPayload, undo_request
from tests.conftest import PlatformUnderTest
from tests.platforms import every_platform
from tests.platforms.drivers import HostDriver
from tests.platforms.lifecycle import (
    Recorder,
    deletion,
    events,
    fan_out_all,
    migration,
    model_state,
    notified,
    rows,
    tally,
)

pytestmark = every_platform

TODAY = date(2026, 11, 21)


@dataclasses.dataclass(frozen=True)
class Teams:
    """Two teams using model ``a`` through every kind of reference, one member each."""

    a: HostId
    b: HostId
    pilot: HostId
    rest: HostId
    counts: dict[HostId, dict[str, int]]
    members: dict[HostId, str]


async def two_teams(driver: HostDriver) -> Teams:
    a = await driver.model("ts-a", token_limit=8000)
    b = await driver.model("ts-b", token_limit=8000)
    pilot, rest = await driver.team(), await driver.team()
    counts, members = {}, {}
    for team in (pilot, rest):
        labels: list[str] = []
        for kind in driver.kinds:
            labels += await driver.live_reference(team, a, kind)
        counts[team] = tally(labels)
        user, _ = await driver.member(team)
        members[team] = str(user)
    return Teams(a, b, pilot, rest, counts, members)


async def slug_of(runtime: Runtime, team: HostId) -> str:
    async with runtime.sessions() as session:
        slug, _ = (await team_names(session, runtime.platform, [team]))[team]
    assert slug is not None
    return slug


def plus(counts: dict[str, int], labels: list[str]) -> dict[str, int]:
    out = dict(counts)
    for label in labels:
        out[label] = out.get(label, 0) + 1
    return out


async def request_row(runtime: Runtime, key: str) -> Any:
    found = await rows(
        runtime,
        "SELECT status, teams, source_retired FROM model_migrations WHERE request_key = :k",
        k=key,
    )
    return found[0] if found else None


async def test_a_pilot_team_then_the_rest_retires_the_source_only_at_the_end(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    w = await two_teams(driver)
    # A model that was migrated to the source earlier: it follows the source only once
    # the source is retired (no chains), never while the source is still in use.
    earlier = await driver.model("ts-earlier")
    assert (await run_request(runtime, migration(earlier, w.a), today=TODAY)).status == (
        "succeeded"
    )
    pilot = migration(w.a, w.b, teams=[w.pilot])

    dry = await preview_request(runtime, pilot, today=TODAY)
    assert (dry.status, dry.source_retired) == ("ok", False), dry
    assert dry.plan.counts == w.counts[w.pilot]
    assert dry.plan.teams == {str(w.pilot): w.counts[w.pilot]}
    assert dry.team_scope == [id_text(w.pilot)]

    late: dict[HostId, list[str]] = {}

    async def both_teams_write_during_the_run(label: str, moved: int) -> None:
        if not late:  # after the first batch: a new row of each team on the source
            for team in (w.pilot, w.rest):
                late[team] = await driver.live_reference(team, w.a, driver.kinds[0])

    result = await run_request(
        runtime, pilot, today=TODAY, after_batch=both_teams_write_during_the_run
    )

    assert result.status == "succeeded", result
    assert (result.source_retired, result.team_scope) == (False, [id_text(w.pilot)])
    assert result.counts == plus(w.counts[w.pilot], late[w.pilot])  # the late row swept
    assert await driver.live_counts(w.b) == result.counts
    # The other team's rows, the one written during the run too, still use the source.
    assert await driver.live_counts(w.a) == plus(w.counts[w.rest], late[w.rest])
    source = await model_state(runtime, w.a)
    assert source.migrated_to_model_id is None and source.deleted_at is None
    assert (await model_state(runtime, earlier)).migrated_to_model_id == w.a
    row = await request_row(runtime, pilot.request_key)
    assert (row.status, row.teams, row.source_retired) == ("succeeded", [id_text(w.pilot)], False)
    pilot_event = [e for e in await events(runtime) if e.model_id == str(w.a)]
    assert [(e.slug, e.payload) for e in pilot_event] == [
        ("llm-model-migrated", {str(w.pilot): result.counts})
    ]
    await fan_out_all(runtime)
    assert await notified(runtime) == [(str(w.pilot), w.members[w.pilot])]
    [told] = await rows(runtime, "SELECT title, body FROM notifications")
    assert told.title.endswith(" for your team"), told.title
    assert "stays available to other teams for now" in told.body

    # Running the pilot's job again changes nothing and tells nobody again.
    host = await driver.host_checksum()
    again = await run_request(runtime, pilot, today=TODAY)
    # (teams notified: said by the first run only)
    assert {**again.model_dump(mode="json"), "teams": 1} == result.model_dump(mode="json")
    assert await driver.host_checksum() == host
    assert len(await events(runtime)) == 2  # the earlier migration's and the pilot's

    # The rest: every team still on the source; now the source is retired.
    rest = await run_request(runtime, migration(w.a, w.b), today=TODAY)
    assert (rest.status, rest.source_retired, rest.team_scope) == (
        "succeeded",
        True,
        None,
    )
    assert rest.counts == plus(w.counts[w.rest], late[w.rest])
    assert await driver.live_counts(w.a) == {}
    assert (await model_state(runtime, w.a)).migrated_to_model_id == w.b
    assert (await model_state(runtime, earlier)).migrated_to_model_id == w.b
    await fan_out_all(runtime)
    [rest_told] = [
        r
        for r in await rows(
            runtime, "SELECT CAST(team_id AS text) AS team, title, body FROM notifications"
        )
        if r.team == str(w.rest)
    ]
    assert not rest_told.title.endswith(" for your team") and " was retired" in rest_told.body


async def test_the_rest_named_by_slug_retires_the_source(platform: PlatformUnderTest) -> None:
    driver, runtime = platform.driver, platform.runtime
    w = await two_teams(driver)
    first = await run_request(runtime, deletion(w.a, w.b, teams=[w.pilot]), today=TODAY)
    assert (first.status, first.source_retired) == ("succeeded", False), first
    assert (await model_state(runtime, w.a)).deleted_at is None

    slug = await slug_of(runtime, w.rest)
    second = await run_request(runtime, deletion(w.a, w.b, teams=[slug]), today=TODAY)

    assert (second.status, second.source_retired) == ("succeeded", True), second
    assert second.team_scope == [id_text(w.rest)]  # the slug, recorded as the team's id
    assert second.counts == w.counts[w.rest]
    assert await driver.live_counts(w.a) == {}
    assert (await model_state(runtime, w.a)).deleted_at is not None


async def test_a_teams_custom_model_is_a_target_for_that_team_alone(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    w = await two_teams(driver)
    custom = await driver.model("ts-custom", team=w.pilot, token_limit=8000)
    host = await driver.host_checksum()

    both = await run_request(runtime, migration(w.a, custom, teams=[w.pilot, w.rest]), today=TODAY)
    assert both.status == "rejected" and "team_scope_mismatch" in both.codes, both
    assert await driver.host_checksum() == host

    mine = await run_request(runtime, migration(w.a, custom, teams=[w.pilot]), today=TODAY)
    assert (mine.status, mine.source_retired) == ("succeeded", False), mine
    assert await driver.live_counts(custom) == w.counts[w.pilot]
    assert await driver.live_counts(w.a) == w.counts[w.rest]


async def test_an_unknown_team_is_refused_and_nothing_is_recorded(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    w = await two_teams(driver)
    host = await driver.host_checksum()
    request = migration(w.a, w.b, teams=[w.pilot, "no-such-team"])

    with pytest.raises(RequestRefused, match=r"team_not_found: .*'no-such-team'") as refused:
        await run_request(runtime, request, today=TODAY)
    assert refused.value.code == "team_not_found"
    with pytest.raises(RequestRefused, match="team_not_found"):
        await preview_request(runtime, request, today=TODAY)

    assert await request_row(runtime, request.request_key) is None
    assert await driver.host_checksum() == host
    # The key is still free for the corrected request.
    fixed = dataclasses.replace(request, teams=(str(w.pilot),))
    assert (await run_request(runtime, fixed, today=TODAY)).status == "succeeded"


async def test_a_request_key_names_its_teams(platform: PlatformUnderTest) -> None:
    driver, runtime = platform.driver, platform.runtime
    w = await two_teams(driver)
    pilot = migration(w.a, w.b, teams=[w.pilot])
    done = await run_request(runtime, pilot, today=TODAY)
    host = await driver.host_checksum()

    for teams in ((str(w.rest),), (str(w.pilot), str(w.rest)), None):
        other = dataclasses.replace(pilot, teams=teams)
        with pytest.raises(RequestRefused, match="request_key_conflict") as refused:
            await run_request(runtime, other, today=TODAY)
        assert "for team(s)" in str(refused.value)
    # The same team by its slug is the same request: its recorded result.
    by_slug = dataclasses.replace(pilot, teams=(await slug_of(runtime, w.pilot),))
    same = await run_request(runtime, by_slug, today=TODAY)
    assert (same.request_id, same.counts, same.team_scope) == (
        done.request_id,
        done.counts,
        done.team_scope,
    )
    assert await driver.host_checksum() == host


async def test_listed_with_its_teams_and_resumed_with_them(platform: PlatformUnderTest) -> None:
    driver, runtime = platform.driver, platform.runtime
    w = await two_teams(driver)
    request = migration(w.a, w.b, teams=[w.pilot])
    resolved = dataclasses.replace(request, teams=(id_text(w.pilot),))
    request_id, rejection = await admit_request(runtime, resolved)
    assert rejection is None and request_id is not None
    await pause_request(runtime, request.request_key, actor="ops")

    [listed] = [r for r in await list_requests(runtime) if r.request_key == request.request_key]
    assert listed.teams == [await slug_of(runtime, w.pilot)]
    assert listed.as_json()["teams"] == listed.teams

    recorder = Recorder()
    await resume_request(
        dataclasses.replace(runtime, enqueue=recorder), request.request_key, actor="ops"
    )
    [(job, payload, _)] = recorder.calls
    assert (job, payload["teams"]) == ("migrate_model", [id_text(w.pilot)])
    done = await run_request(runtime, request, today=TODAY)
    assert (done.status, done.source_retired) == ("succeeded", False)
    assert await driver.live_counts(w.a) == w.counts[w.rest]


async def test_a_recorded_request_resumes_after_its_team_is_gone(
    platform: PlatformUnderTest,
) -> None:
    """A resumed job names the ids its request recorded; a team removed from the host
    meanwhile is not resolved again (nothing of it is left to move)."""
    driver, runtime = platform.driver, platform.runtime
    w = await two_teams(driver)
    gone = uuid.uuid4() if isinstance(w.pilot, uuid.UUID) else 2**31 - 1
    recorded = migration(w.a, w.b, teams=[id_text(gone)])
    request_id, rejection = await admit_request(runtime, recorded)
    assert rejection is None and request_id is not None

    result = await run_request(runtime, recorded, today=TODAY)

    assert (result.status, result.counts, result.source_retired) == (
        "succeeded",
        {},
        False,
    )
    assert result.team_scope == [id_text(gone)]
    with pytest.raises(RequestRefused, match="team_not_found"):
        await run_request(runtime, migration(w.a, w.b, teams=[id_text(gone)]), today=TODAY)


async def test_a_rollout_is_undone_last_request_first(platform: PlatformUnderTest) -> None:
    """The pilot's undo is refused while the request that finished the rollout holds the
    source retired (its rows would go back to a migrated model); undone in reverse order,
    every host row ends as before the pilot, and the source is live again."""
    driver, runtime = platform.driver, platform.runtime
    w = await two_teams(driver)
    checksum = {t: s for t, s in (await driver.host_checksum()).items() if t != driver.model_table}
    pilot = migration(w.a, w.b, teams=[w.pilot])
    rest = migration(w.a, w.b, teams=[w.rest])
    assert (await run_request(runtime, pilot, today=TODAY)).source_retired is False
    assert (await run_request(runtime, rest, today=TODAY)).source_retired is True

    refused = await undo(runtime, pilot.request_key)
    assert (refused.status, refused.codes) == ("rejected", ["source_deleted"]), refused
    assert "undo that one first" in refused.error
    assert (await request_row(runtime, pilot.request_key)).status == "succeeded"
    assert await driver.live_counts(w.a) == {}, "a refused undo changes nothing"

    last = await undo(runtime, rest.request_key)
    assert (last.status, last.restored) == ("undone", w.counts[w.rest])
    assert (await model_state(runtime, w.a)).migrated_to_model_id is None
    first = await undo(runtime, pilot.request_key)
    assert (first.status, first.restored) == ("undone", w.counts[w.pilot])

    after = {t: s for t, s in (await driver.host_checksum()).items() if t != driver.model_table}
    assert after == checksum
    state = await model_state(runtime, w.a)
    assert state.migrated_to_model_id is None and state.deleted_at is None


async def undo(runtime: Runtime, key: str) -> UndoResult:
    return await undo_request(runtime, UndoRequestPayload(request_key=key, requested_by="ops"))
