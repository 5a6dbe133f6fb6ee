"""A model's history names one model, on every platform: a team's custom model and the
global model of the same name never share a history, a hard-deleted model keeps its own
(read from its audit trail), and a custom model is shown with its team everywhere."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text

from db.keys import HostId
from jobs.cleanup import CleanupPayload, cleanup_retired_models
from jobs.migration import run_request
from jobs.runtime import Runtime
from tests.conftest import PlatformUnderTest
from tests.e2e.conftest import run_cli
from tests.platforms import every_platform
from tests.platforms.drivers import PLAIN
from tests.platforms.lifecycle import fan_out_all, migration, rows

pytestmark = every_platform

NO_REDIS = {"LIFECYCLE_REDIS_URL": "redis://127.0.0.1:1/0"}


async def history(platform: PlatformUnderTest, named: str) -> list[dict[str, Any]]:
    done = await asyncio.to_thread(
        run_cli, platform.settings(), "history", named, "--json", **NO_REDIS
    )
    assert done.returncode == 0, done.stderr
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


def summary(found: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [(r["kind"], r["from"], r["to"]) for r in found]


async def migrate(platform: PlatformUnderTest, source: HostId, target: HostId) -> str:
    request = migration(source, target)
    result = await run_request(platform.runtime, request)
    assert result.status == "succeeded", result
    return request.request_key


async def test_history_names_one_model_and_shows_a_custom_models_team(
    platform: PlatformUnderTest, make_runtime: Callable[..., Awaitable[Runtime]]
) -> None:
    driver, runtime = platform.driver, platform.runtime
    team, other = await driver.team(), await driver.team()
    for told in (team, other):
        await driver.member(told)
    shared = await driver.model("xp-gpt")  # global
    custom = await driver.model("xp-gpt", team=team)  # team's own, same name
    after = await driver.model("xp-next")
    await driver.live_reference(other, shared, PLAIN)
    await driver.live_reference(team, custom, PLAIN)
    global_key = await migrate(platform, shared, after)
    # With the undo window off, the cleanup takes the source at once.
    unwindowed = await make_runtime(undo_days=0)
    removed = await cleanup_retired_models(unwindowed, CleanupPayload())
    assert [r["name"] for r in removed["removed"]] == ["xp-gpt"]
    custom_label = f"openai:xp-gpt (team {team})"

    dry = await asyncio.to_thread(
        run_cli,
        platform.settings(),
        "migrate",
        str(custom),
        "openai:xp-next",
        "--dry-run",
        **NO_REDIS,
    )
    assert dry.stdout.splitlines()[0] == (
        f"dry run, nothing changed: migration {custom_label} -> openai:xp-next"
    )
    custom_key = await migrate(platform, custom, after)
    await fan_out_all(runtime)
    titles = [
        r.title for r in await rows(runtime, "SELECT DISTINCT title FROM notifications ORDER BY 1")
    ]
    assert titles == [
        f"{custom_label} was replaced by openai:xp-next",
        "openai:xp-gpt was replaced by openai:xp-next",
    ]

    for named, title in (
        ("openai:xp-gpt", "openai:xp-gpt was replaced by openai:xp-next"),
        (str(custom), f"{custom_label} was replaced by openai:xp-next"),
    ):
        listing = await asyncio.to_thread(
            run_cli, platform.settings(), "notifications", "--model", named, "--json", **NO_REDIS
        )
        assert {n["title"] for n in json.loads(listing.stdout)["notifications"]} == {title}

    # The custom model still exists: only its own request, shown with its team.
    [own] = await history(platform, str(custom))
    assert (own["request_key"], own["from"], own["from_team_id"]) == (
        custom_key,
        custom_label,
        str(team),
    )
    # The hard-deleted global model: by name and by id, its migration and its hard delete.
    global_history = [("hard_deletion", "openai:xp-gpt", None)]
    global_history.append(("migration", "openai:xp-gpt", "openai:xp-next"))
    for named in ("openai:xp-gpt", str(shared)):
        found = await history(platform, named)
        assert summary(found) == global_history
        assert found[1]["request_key"] == global_key

    # Now the custom model goes too, and a model retired with no request at all.
    quiet = await driver.model("xp-quiet")
    async with runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE models SET deleted_at = now() WHERE id = :m"), {"m": quiet})
    removed = await cleanup_retired_models(unwindowed, CleanupPayload())
    assert sorted(r["name"] for r in removed["removed"]) == ["xp-gpt", "xp-quiet"]

    assert summary(await history(platform, str(custom))) == [
        ("hard_deletion", custom_label, None),
        ("migration", custom_label, "openai:xp-next"),
    ]
    assert summary(await history(platform, "openai:xp-gpt")) == global_history
    for named in ("openai:xp-quiet", str(quiet)):
        assert summary(await history(platform, named)) == [
            ("hard_deletion", "openai:xp-quiet", None)
        ]
