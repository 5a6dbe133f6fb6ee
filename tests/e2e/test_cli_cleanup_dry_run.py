"""`lifecycle cleanup --dry-run` shows the rows the real run re-points, on every platform."""

from __future__ import annotations

import json

from sqlalchemy import text

from jobs.cleanup import CleanupPayload, cleanup_retired_models
from jobs.runtime import Runtime
from tests.e2e.conftest import run_cli
from tests.platforms import every_platform
from tests.platforms.drivers import HostDriver
from worker.settings import Settings


@every_platform
async def test_dry_run_counts_the_rows_the_real_run_repoints(
    e2e_settings: Settings, driver: HostDriver, runtime: Runtime
) -> None:
    team = await driver.team()
    retired, target = await driver.model("dry-retired"), await driver.model("dry-target")
    # A row that is not live configuration (soft-deleted or archived) still names the
    # model: the cleanup moves it to the model's successor before the delete.
    await driver.not_live_reference(team, retired)
    not_live = await driver.not_live_count(retired)
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE models SET migrated_to_model_id = :t WHERE id = :m"),
            {"t": target, "m": retired},
        )

    dry = run_cli(e2e_settings, "cleanup", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    (planned,) = json.loads(dry.stdout)["removed"]
    assert planned["repointed"] and sum(planned["repointed"].values()) == not_live
    table = run_cli(e2e_settings, "cleanup", "--dry-run")
    for label, n in planned["repointed"].items():
        assert f"{label}: {n}" in table.stdout

    done = await cleanup_retired_models(runtime, CleanupPayload(dry_run=False))
    (removed,) = done["removed"]
    assert removed["repointed"] == planned["repointed"]
    assert await driver.not_live_count(target) == not_live
