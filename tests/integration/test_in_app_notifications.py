"""examples/in-app-notifications.sql, run as the host application would, on every platform:
the badge, the inbox, marking read; the worker never undoes what the application set."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import text

from jobs.migration import run_request
from tests.conftest import PlatformUnderTest
from tests.platforms import every_platform
from tests.platforms.drivers import PLAIN
from tests.platforms.lifecycle import fan_out_all, migration

pytestmark = every_platform

SQL = Path(__file__).resolve().parents[2] / "examples" / "in-app-notifications.sql"
TODAY = date(2026, 11, 21)


def statements() -> dict[str, str]:
    """The file's statements by their ``-- name:``."""
    parts = re.split(r"(?m)^-- name: (\w+)\n", SQL.read_text())[1:]
    return dict(zip(parts[::2], parts[1::2], strict=True))


async def run(platform: PlatformUnderTest, name: str, **params: Any) -> list[Any]:
    async with platform.runtime.engine.begin() as conn:
        result = await conn.execute(text(statements()[name]), params)
        return list(result) if result.returns_rows else [result.rowcount]


async def test_the_application_reads_and_marks_in_app_notifications(
    platform: PlatformUnderTest,
) -> None:
    driver = platform.driver
    a, b = await driver.model("inbox-a"), await driver.model("inbox-b")
    team = await driver.team()
    (reader, _), (other, _) = await driver.member(team), await driver.member(team)
    await driver.live_reference(team, a, PLAIN)
    result = await run_request(platform.runtime, migration(a, b), today=TODAY)
    assert result.status == "succeeded", result
    await fan_out_all(platform.runtime)

    assert await run(platform, "unread_count", user_id=reader) == [(1,)]
    [row] = await run(platform, "inbox", user_id=reader, team_id=team)
    assert (row.slug, row.model, row.replacement, row.read_at) == (
        "llm-model-migrated",
        "inbox-a",
        "inbox-b",
        None,
    )
    assert row.title.startswith("openai:inbox-a was replaced by")

    assert await run(platform, "mark_read", id=row.id, user_id=reader) == [1]
    assert await run(platform, "mark_read", id=row.id, user_id=reader) == [0]
    assert await run(platform, "unread_count", user_id=reader) == [(0,)]
    assert await run(platform, "unread_count", user_id=other) == [(1,)]

    # A fan-out delivered again leaves the application's read marks alone.
    await fan_out_all(platform.runtime, again=True)
    assert await run(platform, "unread_count", user_id=reader) == [(0,)]
    assert await run(platform, "mark_all_read", user_id=other) == [1]
    assert await run(platform, "unread_count", user_id=other) == [(0,)]
