"""Migration: validated, batched, resumable re-pointing of live configuration."""

import asyncio
import uuid
from datetime import date

import pytest
from sqlalchemy import select, text

from db import models as m
from db.platform.host import reference_host
from jobs.errors import PermanentJobError
from jobs.request_admission import Request, plan_request
from jobs.request_execution import run_request
from jobs.runtime import Runtime
from tests.checksum import table_checksums
from tests.factories import Factory

HOST = reference_host()

TODAY = date(2026, 11, 21)
# A request's progress per reference: planned, done, batches and the keyset cursor.
PROGRESS_ROWS = (
    "SELECT label, planned, done, batches, cursor FROM model_migration_progress ORDER BY label"
)


def migrate(
    source: object, target: object, *, confirm: bool = False, key: str | None = None
) -> Request:
    return Request(
        "migration", str(source), str(target), "tester", key or f"k-{uuid.uuid4()}", confirm
    )


def delete(model: object, replacement: object = None, *, key: str | None = None) -> Request:
    return Request(
        "deletion",
        str(model),
        None if replacement is None else str(replacement),
        "tester",
        key or f"d-{uuid.uuid4()}",
        True,
    )


async def scalar(runtime: Runtime, sql: str, **params: object) -> object:
    async with runtime.engine.connect() as conn:
        return await conn.scalar(text(sql), params)


async def live_refs_to(runtime: Runtime, model_id: uuid.UUID) -> int:
    from db.queries.references import impact_totals, usage_by_team

    async with runtime.sessions() as session:
        usage = await usage_by_team(session, model_id, runtime.platform.live())
        return sum(impact_totals(usage).values())


@pytest.fixture
async def world(factory: Factory) -> dict[str, uuid.UUID]:
    """Two teams using model A everywhere; B is a compatible target."""
    t1, t2 = await factory.team(), await factory.team()
    a = await factory.model("model-a", token_limit=8000)
    b = await factory.model("model-b", token_limit=8000)
    for team in (t1, t2):
        await factory.assistant(team, a, model_parameters={"temperature": 0.1})
        await factory.app(team, a)
        await factory.service(team, a)
        await factory.template(team, a)
        await factory.space(team, [a])
        await factory.pipeline(team, [a, b, None])
        await factory.question(team, a)
        await factory.app_run(team, a)
    return {"t1": t1, "t2": t2, "a": a, "b": b}


async def test_migration_moves_every_live_reference_and_keeps_history(
    runtime: Runtime, world: dict[str, uuid.UUID]
) -> None:
    a, b = world["a"], world["b"]
    result = await run_request(runtime, migrate(a, b), today=TODAY)
    assert result.status == "succeeded", result
    assert result.counts == {
        "assistants": 2,
        "apps": 2,
        "services": 2,
        "templates": 2,
        "spaces": 2,
        "pipelines": 2,
    }
    assert await live_refs_to(runtime, a) == 0
    assert await scalar(runtime, "SELECT count(*) FROM questions WHERE llm_model_id = :a", a=a) == 2
    assert await scalar(runtime, "SELECT count(*) FROM app_runs WHERE llm_model_id = :a", a=a) == 2
    assert (
        await scalar(runtime, "SELECT migrated_to_model_id FROM llm_models WHERE id = :a", a=a) == b
    )
    carried = "SELECT count(*) FROM assistants WHERE model_parameters = '{\"temperature\": 0.1}'"
    assert await scalar(runtime, carried) == 2
    audit = await scalar(
        runtime, "SELECT count(*) FROM audit_events WHERE action = 'model.migrated'"
    )
    assert audit == 1
    async with runtime.engine.connect() as conn:
        event = (await conn.execute(text("SELECT slug, payload FROM lifecycle_events"))).one()
    assert event.slug == "llm-model-migrated"
    assert event.payload == {
        str(world[t]): {
            "assistants": 1,
            "apps": 1,
            "services": 1,
            "templates": 1,
            "spaces": 1,
            "pipelines": 1,
        }
        for t in ("t1", "t2")
    }


async def test_pipelines_with_mixed_nodes_only_rewrite_matching_params(
    runtime: Runtime, factory: Factory
) -> None:
    team = await factory.team()
    a, b, c = await factory.model(), await factory.model(), await factory.model()
    pipe = await factory.pipeline(team, [a, c, None, a])
    untouched = await factory.pipeline(team, [c])
    await run_request(runtime, migrate(a, b), today=TODAY)
    async with runtime.engine.connect() as conn:
        definition = await conn.scalar(
            text("SELECT definition FROM pipelines WHERE id = :p"), {"p": pipe}
        )
        other = await conn.scalar(
            text("SELECT definition FROM pipelines WHERE id = :p"), {"p": untouched}
        )
    nodes = definition["nodes"]
    assert [n["params"].get("llm_model_id") for n in nodes] == [str(b), str(c), None, str(b), None]
    assert all(n["params"].get("temperature") == 0.2 for n in nodes[:4])
    assert nodes[4] == {"id": "start", "type": "start", "params": {}}
    assert other["nodes"][0]["params"]["llm_model_id"] == str(c)


async def test_space_links_merge_where_target_already_enabled(
    runtime: Runtime, factory: Factory
) -> None:
    team = await factory.team()
    a, b = await factory.model(), await factory.model()
    both = await factory.space(team, [a, b])
    only_a = await factory.space(team, [a])
    result = await run_request(runtime, migrate(a, b), today=TODAY)
    assert result.counts == {"spaces": 2}
    async with runtime.engine.connect() as conn:
        links = set(
            (await conn.execute(text("SELECT space_id, llm_model_id FROM space_models"))).all()
        )
    assert links == {(both, b), (only_a, b)}


async def test_chain_a_to_b_then_b_to_c_leaves_nothing_on_b(
    runtime: Runtime, factory: Factory
) -> None:
    team = await factory.team()
    a, b, c = await factory.model(), await factory.model(), await factory.model()
    await factory.assistant(team, a)
    assert (await run_request(runtime, migrate(a, b), today=TODAY)).status == "succeeded"
    await factory.app(team, b)
    assert (await run_request(runtime, migrate(b, c), today=TODAY)).status == "succeeded"
    assert await live_refs_to(runtime, b) == 0
    assert (
        await scalar(
            runtime, "SELECT count(*) FROM llm_models WHERE migrated_to_model_id = :b", b=b
        )
        == 0
    )
    assert (
        await scalar(runtime, "SELECT migrated_to_model_id FROM llm_models WHERE id = :a", a=a) == c
    )


async def test_same_key_returns_recorded_result_without_running_again(
    runtime: Runtime, world: dict[str, uuid.UUID]
) -> None:
    request = migrate(world["a"], world["b"])
    first = await run_request(runtime, request, today=TODAY)
    second = await run_request(runtime, request, today=TODAY)
    assert first.model_dump(mode="json") == {**second.model_dump(mode="json"), "teams": first.teams}
    assert await scalar(runtime, "SELECT count(*) FROM lifecycle_events") == 1
    assert await scalar(runtime, "SELECT count(*) FROM model_migrations") == 1


async def test_dry_run_plan_counts_equal_executed_counts(
    runtime: Runtime, world: dict[str, uuid.UUID], factory: Factory
) -> None:
    for _ in range(5):
        await factory.assistant(world["t1"], world["a"])
    request = migrate(world["a"], world["b"])
    before = await table_checksums(runtime.engine)
    async with runtime.sessions() as session:
        _, _, verdict = await plan_request(
            session, request, references=runtime.platform.live(), today=TODAY
        )
    assert await table_checksums(runtime.engine) == before
    result = await run_request(runtime, request, today=TODAY)
    assert verdict.plan().counts == result.counts
    async with runtime.engine.connect() as conn:
        payload = await conn.scalar(text("SELECT payload FROM lifecycle_events"))
    assert verdict.plan().teams == payload


async def test_failure_after_batch_k_then_rerun_resumes(make_runtime, factory: Factory) -> None:
    runtime = await make_runtime(batch_size=3)
    team = await factory.team()
    a, b = await factory.model(), await factory.model()
    for _ in range(10):
        await factory.assistant(team, a)
    calls = 0

    async def crash_after_second_batch(label: str, moved: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise PermanentJobError("simulated crash after batch 2")

    request = migrate(a, b)
    with pytest.raises(PermanentJobError, match="simulated crash"):
        await run_request(runtime, request, today=TODAY, after_batch=crash_after_second_batch)
    async with runtime.engine.connect() as conn:
        row = (await conn.execute(text("SELECT status, error FROM model_migrations"))).one()
        at_crash = (await conn.execute(text(PROGRESS_ROWS))).all()
    assert row.status == "failed" and "simulated crash" in row.error
    # The table kept the two committed batches' rows, and the cursor the resume starts
    # after: the last of the rows they moved, in key order.
    last_moved = await scalar(
        runtime, "SELECT id FROM assistants WHERE llm_model_id = :b ORDER BY id DESC LIMIT 1", b=b
    )
    assert [tuple(r) for r in at_crash] == [("assistants", 10, 6, 2, str(last_moved))]
    assert (
        await scalar(runtime, "SELECT count(*) FROM assistants WHERE llm_model_id = :b", b=b) == 6
    )

    result = await run_request(runtime, request, today=TODAY)
    assert result.status == "succeeded"
    assert result.counts == {"assistants": 10}
    async with runtime.engine.connect() as conn:
        at_end = (await conn.execute(text(PROGRESS_ROWS))).all()
    # 2 batches before the crash, 2 more after it (3 + 1 rows): nothing was redone.
    assert [tuple(r[:4]) for r in at_end] == [("assistants", 10, 10, 4)]


async def test_concurrent_writer_leaves_no_reference_behind(make_runtime, factory: Factory) -> None:
    runtime = await make_runtime(batch_size=5)
    team = await factory.team()
    a, b = await factory.model(), await factory.model()
    for _ in range(40):
        await factory.assistant(team, a)
    stop = asyncio.Event()
    written = 0

    async def writer() -> None:
        """The main app's protocol: lock the model row FOR SHARE and check it is active."""
        nonlocal written
        while not stop.is_set():
            async with runtime.engine.begin() as conn:
                inserted = await conn.execute(
                    text(
                        "INSERT INTO apps (team_id, name, llm_model_id) "
                        "SELECT :team, 'late', id FROM llm_models WHERE id = :a "
                        "AND migrated_to_model_id IS NULL AND deleted_at IS NULL FOR SHARE"
                    ),
                    {"team": team, "a": a},
                )
                written += inserted.rowcount
            await asyncio.sleep(0)

    async def slow_batches(label: str, moved: int) -> None:
        await asyncio.sleep(0.01)

    task = asyncio.create_task(writer())
    try:
        result = await run_request(runtime, migrate(a, b), today=TODAY, after_batch=slow_batches)
    finally:
        stop.set()
        await task
    assert result.status == "succeeded"
    assert written > 0
    assert await live_refs_to(runtime, a) == 0
    assert result.counts["apps"] == written


async def test_two_simultaneous_requests_for_one_source(make_runtime, factory: Factory) -> None:
    r1, r2 = await make_runtime(), await make_runtime()
    team = await factory.team()
    a, b, c = await factory.model(), await factory.model(), await factory.model()
    for _ in range(20):
        await factory.assistant(team, a)
    results = await asyncio.gather(
        run_request(r1, migrate(a, b), today=TODAY), run_request(r2, migrate(a, c), today=TODAY)
    )
    statuses = sorted(r.status for r in results)
    assert statuses == ["rejected", "succeeded"]
    rejected = next(r for r in results if r.status == "rejected")
    assert {"migration_in_progress", "source_migrated"} & set(rejected.codes)
    winner = next(r for r in results if r.status == "succeeded")
    target = uuid.UUID(winner.target.id)
    assert (
        await scalar(r1, "SELECT count(*) FROM assistants WHERE llm_model_id = :t", t=target) == 20
    )


async def test_deletion_with_replacement_repoints_then_soft_deletes(
    runtime: Runtime, world: dict[str, uuid.UUID]
) -> None:
    result = await run_request(runtime, delete(world["a"], world["b"]), today=TODAY)
    assert result.status == "succeeded"
    assert result.counts["assistants"] == 2
    assert await live_refs_to(runtime, world["a"]) == 0
    assert await scalar(
        runtime, "SELECT deleted_at IS NOT NULL FROM llm_models WHERE id = :a", a=world["a"]
    )
    slug = await scalar(runtime, "SELECT slug FROM lifecycle_events")
    assert slug == "llm-model-deleted"
    details = await scalar(
        runtime, "SELECT details FROM audit_events WHERE action = 'model.deleted'"
    )
    assert details["provider"] == "openai" and details["name"] == "model-a"
    assert details["replacement"]["id"] == str(world["b"])


async def test_deletion_without_replacement_clears_clearable_references(
    runtime: Runtime, factory: Factory
) -> None:
    team = await factory.team()
    a, other = await factory.model(), await factory.model()
    app = await factory.app(team, a)
    await factory.space(team, [a, other])
    pipe = await factory.pipeline(team, [a, other])
    await factory.question(team, a)
    result = await run_request(runtime, delete(a), today=TODAY)
    assert result.status == "succeeded", result
    assert result.counts == {"apps": 1, "spaces": 1, "pipelines": 1}
    assert await scalar(runtime, "SELECT llm_model_id FROM apps WHERE id = :id", id=app) is None
    async with runtime.engine.connect() as conn:
        definition = await conn.scalar(
            text("SELECT definition FROM pipelines WHERE id = :p"), {"p": pipe}
        )
    assert [n["params"].get("llm_model_id") for n in definition["nodes"][:2]] == [None, str(other)]
    assert "llm_model_id" in definition["nodes"][0]["params"]
    assert (
        await scalar(runtime, "SELECT count(*) FROM space_models WHERE llm_model_id = :a", a=a) == 0
    )
    assert await scalar(runtime, "SELECT count(*) FROM questions WHERE llm_model_id = :a", a=a) == 1


async def test_soft_deleted_templates_are_left_for_cleanup(
    runtime: Runtime, factory: Factory
) -> None:
    team = await factory.team()
    a, b = await factory.model(), await factory.model()
    live = await factory.template(team, a)
    gone = await factory.template(team, a, deleted_at=text("now()"))
    result = await run_request(runtime, migrate(a, b), today=TODAY)
    assert result.counts == {"templates": 1}
    async with runtime.engine.connect() as conn:
        rows = dict((await conn.execute(text("SELECT id, llm_model_id FROM templates"))).all())
    assert rows == {live: b, gone: a}


async def test_migration_rows_keep_snapshots(runtime: Runtime, world: dict[str, uuid.UUID]) -> None:
    await run_request(runtime, migrate(world["a"], world["b"]), today=TODAY)
    async with runtime.sessions() as session:
        row = (await session.execute(select(m.ModelMigration))).scalar_one()
    assert (row.from_provider, row.from_model_name, row.to_model_name) == (
        "openai",
        "model-a",
        "model-b",
    )
    assert row.started_at and row.finished_at and row.status == "succeeded"
