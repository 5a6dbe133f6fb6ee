"""Live rows that belong to no team (a global template, team NULL): a migration moves and
counts them, and tells nobody about them — as docs/platform-mapping.md says. The reference
platform is the one whose schema has such rows (its templates' team is nullable)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from jobs.request_execution import run_request
from jobs.runtime import Runtime
from tests.factories import Factory
from tests.platforms.lifecycle import deletion, events, fan_out_all, migration, notified, rows

TODAY = date(2026, 11, 21)


async def _template_model(runtime: Runtime, template: object) -> object:
    [row] = await rows(runtime, "SELECT llm_model_id FROM templates WHERE id = :t", t=template)
    return row.llm_model_id


async def test_teamless_rows_are_moved_and_counted_and_nobody_is_told(
    runtime: Runtime, factory: Factory
) -> None:
    a, b = await factory.model("teamless-a"), await factory.model("teamless-b")
    team = await factory.team()
    member = await factory.member(team)
    await factory.assistant(team, a)
    global_template = await factory.template(None, a)

    result = await run_request(runtime, migration(a, b), today=TODAY)
    assert result.status == "succeeded", result
    assert result.counts == {"assistants": 1, "templates": 1}
    assert await _template_model(runtime, global_template) == b

    [event] = await events(runtime)
    assert event.payload == {str(team): {"assistants": 1}}
    await fan_out_all(runtime)
    assert await notified(runtime) == [(str(team), str(member))]


async def test_teamless_rows_keep_a_team_model_from_taking_over(
    runtime: Runtime, factory: Factory
) -> None:
    team = await factory.team()
    a = await factory.model("shared-a")
    own = await factory.model("own-b", team_id=team)
    await factory.assistant(team, a)
    global_template = await factory.template(None, a)

    result = await run_request(runtime, migration(a, own), today=TODAY)
    assert result.status == "rejected" and "team_scope_mismatch" in result.codes
    assert await _template_model(runtime, global_template) == a
    async with runtime.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM lifecycle_events")) == 0


async def test_a_team_scoped_request_leaves_teamless_rows_and_keeps_the_source(
    runtime: Runtime, factory: Factory
) -> None:
    team = await factory.team()
    a, b = await factory.model("teamless-c"), await factory.model("teamless-d")
    own = await factory.model("own-d", team_id=team)
    await factory.assistant(team, a)
    moved_app = await factory.app(team, a)
    global_template = await factory.template(None, a)

    # A team's custom model may serve that team alone: the global template is not its.
    mine = await run_request(runtime, migration(a, own, teams=[team]), today=TODAY)
    assert (mine.status, mine.source_retired) == ("succeeded", False), mine
    assert mine.counts == {"assistants": 1, "apps": 1}
    assert await _template_model(runtime, global_template) == a
    # Nothing of the team is left: a scoped clearing deletion clears nothing more.
    await factory.app(team, a)
    emptied = await run_request(runtime, deletion(a, teams=[team]), today=TODAY)
    assert (emptied.status, emptied.counts, emptied.source_retired) == (
        "succeeded",
        {"apps": 1},
        False,
    )
    assert await _template_model(runtime, global_template) == a

    rest = await run_request(runtime, migration(a, b), today=TODAY)
    assert (rest.status, rest.counts, rest.source_retired) == (
        "succeeded",
        {"templates": 1},
        True,
    )
    assert await _template_model(runtime, global_template) == b
    [app] = await rows(runtime, "SELECT llm_model_id FROM apps WHERE id = :i", i=moved_app)
    assert app.llm_model_id == own
