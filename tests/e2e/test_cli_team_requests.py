"""``lifecycle migrate|delete --team T`` with a real worker, on every platform: a team
named by id or by slug, an unknown team refused as bad input, and the request listed
with its team."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable

from db.keys import HostId, id_text
from db.queries.notifications import team_names
from tests.conftest import PlatformUnderTest
from tests.e2e.conftest import run_cli
from tests.platforms import every_platform
from tests.platforms.lifecycle import model_state, tally
from worker.settings import Settings

pytestmark = every_platform


async def slug_of(platform: PlatformUnderTest, team: HostId) -> str:
    async with platform.runtime.sessions() as session:
        slug, _ = (await team_names(session, platform.runtime.platform, [team]))[team]
    assert slug is not None
    return slug


async def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_cli, settings, *args)


async def test_migrate_and_delete_take_a_team_by_id_or_slug(
    platform: PlatformUnderTest,
    e2e_settings: Settings,
    worker_process: Callable[..., subprocess.Popen[str]],
) -> None:
    driver, runtime = platform.driver, platform.runtime
    a, b = await driver.model("cli-team-a"), await driver.model("cli-team-b")
    pilot, rest = await driver.team(), await driver.team()
    counts = {}
    for team in (pilot, rest):
        labels = [await driver.live_reference(team, a, kind) for kind in driver.kinds]
        counts[team] = tally(label for found in labels for label in found)
    slug = await slug_of(platform, rest)
    host = await driver.host_checksum()

    unknown = await cli(e2e_settings, "migrate", str(a), str(b), "--team", "no-such-team")
    assert unknown.returncode == 2, unknown.stdout + unknown.stderr
    assert "team_not_found" in unknown.stderr and "'no-such-team'" in unknown.stderr
    assert await driver.host_checksum() == host

    worker_process()
    key = "cli-pilot"
    piloted = await cli(
        e2e_settings, "migrate", str(a), str(b), "--team", str(pilot), "--request-key", key
    )
    assert piloted.returncode == 0, piloted.stdout + piloted.stderr
    # Named by id on the command line, the team is shown by its slug.
    pilot_slug = await slug_of(platform, pilot)
    assert f"teams: {pilot_slug} (only their live references)" in piloted.stdout
    assert "source kept: other teams still use it (source_retired: false)" in piloted.stdout
    assert await driver.live_counts(a) == counts[rest]
    assert (await model_state(runtime, a)).migrated_to_model_id is None

    # The same key for another team is another request.
    conflict = await cli(
        e2e_settings, "migrate", str(a), str(b), "--team", slug, "--request-key", key
    )
    assert conflict.returncode == 1 and "request_key_conflict" in conflict.stderr

    dry = await cli(
        e2e_settings,
        "delete",
        str(a),
        "--replacement",
        str(b),
        "--team",
        slug,
        "--dry-run",
        "--json",
    )
    assert dry.returncode == 0, dry.stdout + dry.stderr
    plan = json.loads(dry.stdout)
    assert (plan["plan"]["counts"], plan["source_retired"]) == (counts[rest], True)
    assert plan["team_scope"] == [id_text(rest)]
    assert plan["team_slugs"] == {id_text(rest): slug}

    deleted = await cli(
        e2e_settings, "delete", str(a), "--replacement", str(b), "--team", slug, "--json"
    )
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    result = json.loads(deleted.stdout)
    assert (result["source_retired"], result["counts"]) == (True, counts[rest])
    assert await driver.live_counts(a) == {}
    assert (await model_state(runtime, a)).deleted_at is not None

    listed = await cli(e2e_settings, "requests", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    teams = {r["request_key"]: r["teams"] for r in json.loads(listed.stdout)}
    assert (teams[key], teams[result["request_key"]]) == ([pilot_slug], [slug])
