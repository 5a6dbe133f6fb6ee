"""Model ids in JSON match however their letters are written: migration, counts, cleanup."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from db import models as m
from db.platform.host import reference_host
from db.queries.deprecation import usage_of_models
from db.queries.references import usage_by_team
from jobs.cleanup import CleanupPayload, cleanup_retired_models
from jobs.request_admission import Request
from jobs.request_execution import run_request
from jobs.runtime import Runtime
from tests.factories import Factory

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

    assert result["status"] == "succeeded" and result["counts"] == {"pipelines": 1}
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
