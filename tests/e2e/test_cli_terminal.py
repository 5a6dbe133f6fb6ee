"""Data never drives the terminal: a tenant's model name holding escape sequences (an
OSC-52 clipboard write, a screen clear, a bidi override) is shown escaped by every
command's text output, and carried exactly (JSON-escaped) by ``--json``."""

from __future__ import annotations

import asyncio
import json
import subprocess

from jobs.migration import run_request
from tests.conftest import PlatformUnderTest
from tests.e2e.conftest import run_cli
from tests.platforms import every_platform
from tests.platforms.drivers import PLAIN
from tests.platforms.lifecycle import fan_out_all, migration

pytestmark = every_platform

NO_REDIS = {"LIFECYCLE_REDIS_URL": "redis://127.0.0.1:1/0"}
# Copies "evil" to the clipboard (OSC 52), clears the screen, reverses what follows.
HOSTILE = "gpt\x1b]52;c;ZXZpbA==\x07\x1b[2J\u202ex\x9b31m"
SHOWN = "gpt\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J\\u202ex\\x9b31m"


async def cli(platform: PlatformUnderTest, *args: str) -> subprocess.CompletedProcess[str]:
    done = await asyncio.to_thread(run_cli, platform.settings(), *args, **NO_REDIS)
    for stream in (done.stdout, done.stderr):
        assert not any(c in stream for c in "\x1b\x07\x9b\u202e"), repr(stream)
    return done


async def test_a_hostile_model_name_is_shown_escaped_by_every_command(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    team = await driver.team()
    await driver.member(team)
    hostile = await driver.model(HOSTILE)
    target = await driver.model("xp-plain")
    await driver.live_reference(team, hostile, PLAIN)

    dry = await cli(platform, "migrate", str(hostile), str(target), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"migration openai:{SHOWN} -> openai:xp-plain" in dry.stdout
    as_json = await cli(platform, "migrate", str(hostile), str(target), "--dry-run", "--json")
    assert json.loads(as_json.stdout)["source"]["name"] == HOSTILE

    result = await run_request(runtime, migration(hostile, target))
    assert result.status == "succeeded", result
    await fan_out_all(runtime)

    history = await cli(platform, "history", str(hostile))
    assert history.returncode == 0, history.stderr
    assert f"openai:{SHOWN}" in history.stdout
    [row] = json.loads((await cli(platform, "history", str(hostile), "--json")).stdout)
    assert row["from"] == f"openai:{HOSTILE}"

    listed = await cli(platform, "notifications")
    assert listed.returncode == 0, listed.stderr
    assert f"openai:{SHOWN} was replaced by openai:xp-plain" in listed.stdout
    listing = json.loads((await cli(platform, "notifications", "--json")).stdout)
    notifications = listing["notifications"]
    assert {n["title"] for n in notifications} == {
        f"openai:{HOSTILE} was replaced by openai:xp-plain"
    }
