"""`lifecycle models`: the overview an operator reads instead of querying the view."""

from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import text

from db.queries.notifications import team_names
from jobs.runtime import Runtime
from tests.e2e.conftest import run_cli
from tests.platforms import every_platform
from tests.platforms.drivers import HostDriver
from worker.settings import Settings


async def _set_date(runtime: Runtime, model: object, when: date, *, deprecated: bool) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE models SET deprecation_date = :d, deprecated = :dep WHERE id = :m"),
            {"d": when, "dep": deprecated, "m": model},
        )


@every_platform
async def test_models_lists_state_dates_and_live_use(
    e2e_settings: Settings, driver: HostDriver, runtime: Runtime
) -> None:
    team, other = await driver.team(), await driver.team()
    soon = await driver.model("ov-soon")
    passed = await driver.model("ov-passed")
    idle = await driver.model("ov-idle")
    custom = await driver.model("ov-custom", team=other)
    today = date.today()
    await _set_date(runtime, soon, today + timedelta(days=5), deprecated=False)
    await _set_date(runtime, passed, today - timedelta(days=3), deprecated=True)
    await _set_date(runtime, idle, today + timedelta(days=2), deprecated=False)
    soon_labels = await driver.live_reference(team, soon)
    other_labels = await driver.live_reference(other, soon)
    passed_labels = await driver.live_reference(team, passed)
    if driver.has_history:
        await driver.history_reference(team, passed)

    # Enrichment suggested a successor for the idle model (an event records it).
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO lifecycle_events (slug, model_id, model_provider, model_name, "
                "dedup_key, suggested_provider, suggested_model_name) VALUES ('llm-model-"
                "retiring', :m, 'openai', 'ov-idle', :k, 'openai', 'ov-successor')"
            ),
            {"m": idle, "k": f"overview-{idle}"},
        )

    done = run_cli(e2e_settings, "models", "--json")
    assert done.returncode == 0, done.stderr
    by_id = {str(e["id"]): e for e in json.loads(done.stdout)}
    assert by_id[str(soon)]["state"] == "retiring"
    assert by_id[str(soon)]["model"] == "openai:ov-soon"
    assert by_id[str(soon)]["live_total"] == len(soon_labels + other_labels)
    assert by_id[str(soon)]["live_teams"] == 2
    assert by_id[str(passed)]["state"] == "deprecated"
    assert by_id[str(passed)]["live_total"] == len(passed_labels)
    assert by_id[str(passed)]["recent_use"] == int(driver.has_history)
    assert by_id[str(idle)]["live_total"] == 0
    assert by_id[str(idle)]["replacement"] is None
    assert by_id[str(idle)]["suggested"] == "openai:ov-successor"
    assert str(by_id[str(custom)]["team_id"]) == str(other)
    assert by_id[str(custom)]["state"] == "active"

    # --retiring: a date and live references, the date already passed first.
    done = run_cli(e2e_settings, "models", "--retiring", "--json")
    assert done.returncode == 0, done.stderr
    retiring = json.loads(done.stdout)
    assert [str(e["id"]) for e in retiring] == [str(passed), str(soon)]
    assert retiring[0]["days_left"] == -3

    # --team by slug (or id where the host keeps no slug): what that team uses, its own
    # models, with its counts.
    async with runtime.sessions() as session:
        slug = (await team_names(session, runtime.platform, [other]))[other][0]
    done = run_cli(e2e_settings, "models", "--team", slug or str(other), "--json")
    assert done.returncode == 0, done.stderr
    scoped = {str(e["id"]): e for e in json.loads(done.stdout)}
    assert set(scoped) == {str(soon), str(custom)}
    assert scoped[str(soon)]["live_total"] == len(other_labels)

    table = run_cli(e2e_settings, "models", "--retiring")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == [
        "id",
        "model",
        "team",
        "state",
        "date",
        "replacement",
        "live",
        "teams",
        "recent",
    ]
    assert lines[2].split()[:5] == [
        str(passed),
        "openai:ov-passed",
        "deprecated",
        str(today - timedelta(days=3)),
        "(passed)",
    ]
    assert str(soon) in lines[3] and "(5d)" in lines[3]


@every_platform
async def test_models_names_an_unknown_team(e2e_settings: Settings) -> None:
    done = run_cli(e2e_settings, "models", "--team", "no-such-team")
    assert done.returncode == 2
    assert "--team no-such-team: no team has this id or slug" in done.stderr
