"""A row's team reached through its parent by the key the mapping declares (not the id).

On the joined-provider host a flow step names its flow by ``uid``; the flows' ids and
uids are crossed here, so a join on ``id`` would give every step the other team.
"""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from db.engine import make_engine
from db.platform.check import check_platform
from db.platform.mapping import parse_mapping
from jobs.migration import preview_request, run_request
from jobs.runtime import Runtime
from tests.platforms import JOINED_PROVIDER
from tests.platforms.lifecycle import events, migration
from worker.app import build_runtime
from worker.health import asyncpg_dsn
from worker.settings import Settings

# (flow id, flow uid, org): each flow's uid is the other flow's id.
FLOWS = ((1, 2, 1), (2, 1, 2))
TEAM_A, TEAM_B = 1, 2


@dataclass(frozen=True)
class Host:
    runtime: Runtime
    conn: asyncpg.Connection
    source: int
    target: int  # team A's private model

    async def step(self, flow_uid: int) -> int:
        step_id: int = await self.conn.fetchval(
            "INSERT INTO flow_steps (flow_uid, ai_model_id) VALUES ($1, $2) RETURNING id",
            flow_uid,
            self.source,
        )
        return step_id

    async def model_of(self, step: int) -> int:
        model: int = await self.conn.fetchval(
            "SELECT ai_model_id FROM flow_steps WHERE id = $1", step
        )
        return model


def uid_of(team: int) -> int:
    return next(uid for _, uid, org in FLOWS if org == team)


@pytest.fixture
async def host(joined_provider: Settings) -> AsyncIterator[Host]:
    conn = await asyncpg.connect(asyncpg_dsn(joined_provider.database_url.get_secret_value()))
    await conn.execute("INSERT INTO orgs (title) VALUES ('Globex')")
    await conn.executemany("INSERT INTO flows (id, uid, org_id) VALUES ($1, $2, $3)", FLOWS)
    insert = (
        "INSERT INTO ai_models (provider_id, model_name, context_tokens, org_id) "
        "VALUES (1, $1, 8000, $2) RETURNING id"
    )
    source = await conn.fetchval(insert, "gpt-old", None)
    target = await conn.fetchval(insert, "gpt-acme", TEAM_A)
    runtime = build_runtime(joined_provider)
    try:
        yield Host(runtime, conn, source, target)
    finally:
        await runtime.engine.dispose()
        await conn.close()


async def test_a_migration_onto_a_teams_model_never_moves_another_teams_row(host: Host) -> None:
    theirs = await host.step(uid_of(TEAM_B))
    request = migration(host.source, host.target)

    dry = await preview_request(host.runtime, request)
    assert dry.plan.teams == {str(TEAM_B): {"flow_steps": 1}}
    result = await run_request(host.runtime, request)

    assert result.status == "rejected", result
    assert "team_scope_mismatch" in result.codes, result

    assert await host.model_of(theirs) == host.source


async def test_a_migration_onto_a_teams_model_moves_its_own_rows_counted_to_it(
    host: Host,
) -> None:
    ours = await host.step(uid_of(TEAM_A))

    result = await run_request(host.runtime, migration(host.source, host.target))

    assert result.status == "succeeded", result
    assert result.counts == {"flow_steps": 1}
    assert await host.model_of(ours) == host.target
    [event] = await events(host.runtime)
    assert event.payload == {str(TEAM_A): {"flow_steps": 1}}


async def test_check_refuses_a_team_key_the_foreign_key_does_not_reference(
    joined_provider: Settings,
) -> None:
    data = tomllib.loads(JOINED_PROVIDER.mapping.read_text())
    [steps] = [r for r in data["references"] if r["label"] == "flow_steps"]
    del steps["team"]["key"]  # the default: the parent's id
    engine = make_engine(joined_provider.database_url.get_secret_value(), pool_size=1)
    try:
        async with engine.connect() as conn:
            report = await check_platform(conn, parse_mapping(data, "edited"), source="test")
    finally:
        await engine.dispose()

    assert [f"{f.subject}: {f.message}" for f in report.errors] == [
        "reference flow_steps: flow_steps.flow_uid references flows.uid but the mapping "
        'joins flows on id: set key = "uid"'
    ]
