"""Model ids in JSON match however they are written (letters in any case, numbers in any
form), and every row matched is moved: migration, counts, cleanup."""

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import select

from db import models as m
from db.platform.host import reference_host
from db.queries.deprecation import usage_of_models
from db.queries.references import usage_by_team
from jobs.cleanup import CleanupPayload, cleanup_retired_models
from jobs.migration import preview_request
from jobs.request_admission import Request
from jobs.request_execution import run_request
from jobs.runtime import Runtime
from tests.conftest import PlatformUnderTest
from tests.factories import Factory
from tests.platforms import every_platform
from tests.platforms.lifecycle import migration, model_state, tally
from worker.app import build_runtime
from worker.health import asyncpg_dsn
from worker.settings import Settings

HOST = reference_host()

SPELLINGS: dict[str, Callable[[uuid.UUID], str]] = {
    "upper case": lambda i: str(i).upper(),
    "mixed case": lambda i: str(i)[:18].upper() + str(i)[18:],
}


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
async def test_a_pipeline_naming_the_model_in_any_case_is_counted_and_migrated(
    runtime: Runtime, factory: Factory, spelling: str
) -> None:
    team = await factory.team()
    source, target = await factory.model("src"), await factory.model("dst")
    pipeline = await factory.pipeline(team, [SPELLINGS[spelling](source), None])

    async with runtime.sessions() as session:
        usage = await usage_by_team(session, source, HOST.live())
        by_model = await usage_of_models(session, [source], HOST.live())
    assert usage["pipelines"].total == 1
    assert by_model[source] == {str(team): {"pipelines": 1}}

    request = Request("migration", str(source), str(target), "t", "k", True)
    result = await run_request(runtime, request)

    assert result.status == "succeeded" and result.counts == {"pipelines": 1}
    async with runtime.engine.connect() as conn:
        definition = await conn.scalar(
            select(m.Pipeline.definition).where(m.Pipeline.id == pipeline)
        )
    assert [n["params"].get("llm_model_id") for n in definition["nodes"]] == [
        str(target),
        None,
        None,
    ]


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
async def test_cleanup_keeps_a_model_a_pipeline_names_in_any_case(
    runtime: Runtime, factory: Factory, spelling: str
) -> None:
    team = await factory.team()
    retired = await factory.model("retired", deleted_at=datetime.now(UTC))
    await factory.pipeline(team, [SPELLINGS[spelling](retired)])

    report = await cleanup_retired_models(runtime, CleanupPayload())

    assert report["removed"] == []
    [skipped] = report["skipped"]
    assert (skipped["reason"], skipped["labels"]) == ("live_references", ["pipelines"])
    assert await factory.get_model(retired) is not None


@every_platform
async def test_a_json_id_in_any_spelling_is_moved_with_its_row(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    team = await driver.team()
    source, target = await driver.model("src"), await driver.model("dst")
    labels: list[str] = []
    for spelled in driver.json_spellings(source).values():
        labels += await driver.json_reference(team, source, spelled)

    result = await run_request(runtime, migration(source, target))

    assert result.status == "succeeded", result
    assert result.counts == tally(labels)
    assert await driver.json_naming(source) == 0
    assert await driver.json_naming(target) == len(labels)
    assert await driver.live_counts(source) == {}
    assert await driver.copy_disagreements() == 0


async def test_json_ids_written_as_numbers_are_moved_and_counted_once_per_row(
    joined_provider: Settings,
) -> None:
    runtime = build_runtime(joined_provider)
    conn = await asyncpg.connect(asyncpg_dsn(joined_provider.database_url.get_secret_value()))
    try:
        insert = (
            "INSERT INTO ai_models (provider_id, model_name, context_tokens) "
            "VALUES (1, $1, 8000) RETURNING id"
        )
        source, target = await conn.fetchval(insert, "old"), await conn.fetchval(insert, "new")
        # Two rows: one naming the source twice (as 1.0 and as 1), one as 10e-1 (1.0).
        specs = [[f"{source}.0", f"{source}"], [f"{source}0e-1", f"{target}"]]
        await conn.executemany(
            "INSERT INTO workflows (org_id, spec) VALUES (1, $1::jsonb)",
            [(_steps(ids),) for ids in specs],
        )

        request = migration(source, target)
        async with runtime.sessions() as session:
            usage = await usage_of_models(session, [source], runtime.platform.live())
        dry = await preview_request(runtime, request)
        result = await run_request(runtime, request)

        assert usage == {source: {"1": {"workflows": 2}}}
        assert dry.plan.counts == {"workflows": 2}
        assert result.status == "succeeded", result
        assert result.counts == {"workflows": 2}
        steps = await conn.fetch(
            "SELECT s->'model_id' AS id FROM workflows w, jsonb_array_elements(w.spec->'steps') s"
        )
        assert [json.loads(row["id"]) for row in steps] == [target] * 4
        source_row = await model_state(runtime, source)
        assert source_row.migrated_to_model_id == target
    finally:
        await conn.close()
        await runtime.engine.dispose()


def _steps(ids: list[str]) -> str:
    """A workflow spec naming each model id as the JSON number text given."""
    return '{"steps": [' + ", ".join(f'{{"model_id": {i}}}' for i in ids) + "]}"
