"""The worker under least privilege, on every host platform: a role holding only what
`lifecycle platform grants` prints runs catalog sync, enrichment, a migration, a deletion,
fan-out and cleanup; a grant taken away is named by `lifecycle platform check`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from db.platform.mapping import platform_mapping
from jobs.catalog import SyncCatalogPayload, sync_catalog
from jobs.cleanup import CleanupPayload, cleanup_retired_models
from jobs.cost_map import CostMap
from jobs.deprecation import EnrichPayload, enrich_deprecations
from jobs.migration import run_request
from jobs.runtime import Runtime
from jobs.undo import UndoRequestPayload, undo_request
from tests.conftest import PlatformUnderTest
from tests.e2e.conftest import run_cli
from tests.platforms import every_platform
from tests.platforms.lifecycle import (
    deletion,
    fan_out_all,
    global_model,
    migration,
    model_state,
    notified,
    tally,
)
from tests.services import as_role, granted_role
from worker.app import build_runtime
from worker.health import asyncpg_dsn
from worker.settings import Settings

pytestmark = every_platform

TODAY = date(2026, 11, 21)
COST_MAP = Path(__file__).parent.parent / "fixtures" / "cost_map_small.json"


@dataclass(frozen=True)
class WorkerRole:
    """A login role holding only the printed grants, and settings that connect as it."""

    name: str
    grants: str
    settings: Settings
    runtime: Runtime


async def _admin(platform: PlatformUnderTest) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_dsn(platform.database_url), timeout=10)


@pytest.fixture
async def worker_role(platform: PlatformUnderTest, redis_ready: None) -> AsyncIterator[WorkerRole]:
    printed: list[str] = []

    async def printed_grants(role: str) -> str:
        done = run_cli(platform.settings(), "platform", "grants", "--role", role)
        assert done.returncode == 0, done.stderr
        printed.append(done.stdout)
        return done.stdout

    async with granted_role(platform.database_url, printed_grants) as name:
        settings = platform.settings(database_url=as_role(platform.database_url, name))
        runtime = build_runtime(settings)
        try:
            yield WorkerRole(name, printed[0], settings, runtime)
        finally:
            await runtime.engine.dispose()


_WHO = (
    "SELECT current_user AS role, rolsuper AS superuser, "
    "has_database_privilege(current_database(), 'CREATE') AS creates "
    "FROM pg_roles WHERE rolname = current_user"
)


async def _ignore(job: str, payload: dict[str, Any], key: str) -> None:
    """No queue: each job is run here, in order."""


async def test_every_job_runs_as_a_role_holding_only_the_printed_grants(
    platform: PlatformUnderTest, worker_role: WorkerRole
) -> None:
    driver = platform.driver
    runtime = dataclasses.replace(worker_role.runtime, enqueue=_ignore)
    assert "GRANT" in worker_role.grants and "ALL PRIVILEGES" not in worker_role.grants

    async with runtime.engine.connect() as conn:
        who = (await conn.execute(text(_WHO))).one()
    assert (who.role, who.superuser, who.creates) == (worker_role.name, False, False)
    check = run_cli(worker_role.settings, "platform", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"privileges: role {worker_role.name} holds all " in check.stdout

    catalog = {
        "models": [
            {"provider": "openai", "name": "lp-target", "token_limit": 128000},
            {"provider": "openai", "name": "gpt-4", "token_limit": 8192},
        ]
    }
    payload = SyncCatalogPayload(catalog=catalog, dry_run=False, requested_by="tester")
    await sync_catalog(runtime, payload, today=TODAY)
    target = (await global_model(runtime, "lp-target")).id

    cost_map = CostMap(json.loads(COST_MAP.read_text()), str(COST_MAP))
    await enrich_deprecations(runtime, EnrichPayload(dry_run=False), today=TODAY, cost_map=cost_map)
    gpt4 = await global_model(runtime, "gpt-4")
    assert gpt4.deprecation_date == date(2026, 3, 1)

    team = await driver.team()
    member, _ = await driver.member(team)
    retired = await driver.model("lp-retired")
    moved = tally(
        [label for k in driver.kinds for label in await driver.live_reference(team, retired, k)]
    )
    await driver.not_live_reference(team, retired)
    first = migration(retired, target)
    migrated = await run_request(runtime, first, today=TODAY)
    assert migrated.status == "succeeded", migrated
    undo = UndoRequestPayload(request_key=first.request_key, requested_by="tester")
    undone = await undo_request(runtime, undo)
    assert (undone.status, undone.restored) == ("undone", moved)
    assert await driver.live_counts(target) == {}
    migrated = await run_request(runtime, migration(retired, target), today=TODAY)
    assert migrated.status == "succeeded", migrated
    assert await driver.live_counts(target) == moved

    deleted_model = await driver.model("lp-deleted")
    await driver.live_reference(team, deleted_model, driver.kinds[0])
    deleted = await run_request(runtime, deletion(deleted_model, target), today=TODAY)
    assert deleted.status == "succeeded", deleted
    assert (await model_state(runtime, deleted_model)).deleted_at is not None

    await fan_out_all(runtime)
    assert (str(team), str(member)) in await notified(runtime)

    kept = await cleanup_retired_models(runtime, CleanupPayload(dry_run=False))
    assert [e["reason"] for e in kept["skipped"]] == ["undo_window"] * 2, kept
    unwindowed = build_runtime(
        platform.settings(
            database_url=worker_role.settings.database_url.get_secret_value(), undo_days=0
        )
    )
    try:
        report = await cleanup_retired_models(unwindowed, CleanupPayload(dry_run=False))
    finally:
        await unwindowed.engine.dispose()
    assert report["errors"] == [], report
    assert sorted(e["name"] for e in report["removed"]) == ["lp-deleted", "lp-retired"]
    assert not await driver.model_exists(retired)
    assert await driver.not_live_count(retired) == 0


async def test_platform_check_names_a_grant_taken_away(
    platform: PlatformUnderTest, worker_role: WorkerRole
) -> None:
    mapping = platform_mapping(platform.settings().platform_file)
    ref = next(r for r in mapping.live() if r.column is not None and not r.link)
    schema, models = mapping.host_schema, mapping.models
    admin = await _admin(platform)
    try:
        await admin.execute(
            f'REVOKE UPDATE ("{ref.column}") ON "{schema}"."{ref.table}" FROM "{worker_role.name}"'
        )
        await admin.execute(
            f'REVOKE SELECT ("{models.name}") ON "{schema}"."{models.table}" '
            f'FROM "{worker_role.name}"'
        )
    finally:
        await admin.close()

    # The models view checks the privileges of the role using it, never lends its owner's.
    with pytest.raises(DBAPIError, match="permission denied"):
        async with worker_role.runtime.engine.connect() as conn:
            await conn.execute(text("SELECT name FROM models"))

    check = run_cli(worker_role.settings, "platform", "check")

    assert check.returncode == 1, check.stdout + check.stderr
    lacks = (
        f'privileges: role {worker_role.name} lacks UPDATE ("{ref.column}") '
        f'on TABLE "{schema}"."{ref.table}"'
    )
    assert lacks in check.stdout, check.stdout
    fix = (
        f'GRANT UPDATE ("{ref.column}") ON TABLE "{schema}"."{ref.table}" TO "{worker_role.name}";'
    )
    assert fix in check.stdout
    assert f'lacks SELECT ("{models.name}") on TABLE "{schema}"."{models.table}"' in check.stdout

    # A worker holds the same check at start and refuses, naming what is missing.
    worker = run_cli(worker_role.settings, "worker", "--burst")
    assert worker.returncode == 1
    assert "the worker cannot start" in worker.stderr and lacks in worker.stderr, worker.stderr
