"""A request key names one request; a resumed request is validated again."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import delete, text, update

from db import models as m
from jobs.errors import PermanentJobError, RequestRefused
from jobs.request_admission import Request
from jobs.request_execution import close_spent_request, run_request
from jobs.runtime import Runtime
from tests.checksum import table_checksums
from tests.factories import Factory
from tests.services import wait_until_blocked_on_a_lock

Models = dict[str, uuid.UUID]


def migrate(source: object, target: object, key: str) -> Request:
    return Request("migration", str(source), str(target), "tester", key, True)


def delete_req(model: object, replacement: object | None, key: str) -> Request:
    return Request(
        "deletion", str(model), None if replacement is None else str(replacement), "t", key, True
    )


@pytest.fixture
async def models(factory: Factory) -> Models:
    """Model a used by one team (apps only, all clearable); b, c and d are live targets."""
    team = await factory.team()
    ids = {name: await factory.model(f"model-{name}") for name in "abcd"}
    for _ in range(4):
        await factory.app(team, ids["a"])
    return {"team": team, **ids}


async def _fail_after_first_batch(runtime: Runtime, request: Request) -> None:
    async def crash(label: str, moved: int) -> None:
        raise PermanentJobError("simulated crash after a batch")

    with pytest.raises(PermanentJobError, match="simulated crash"):
        await run_request(runtime, request, after_batch=crash)


# The same key re-used for another request: (first request, second request) as functions
# of the models.
CONFLICTS: dict[str, tuple[Callable[[Models], Request], Callable[[Models], Request]]] = {
    "other target": (
        lambda x: migrate(x["a"], x["b"], "k"),
        lambda x: migrate(x["a"], x["c"], "k"),
    ),
    "other source": (
        lambda x: migrate(x["a"], x["b"], "k"),
        lambda x: migrate(x["d"], x["b"], "k"),
    ),
    "other kind": (
        lambda x: migrate(x["a"], x["b"], "k"),
        lambda x: delete_req(x["a"], x["b"], "k"),
    ),
    "other replacement": (
        lambda x: delete_req(x["a"], x["b"], "k"),
        lambda x: delete_req(x["a"], x["c"], "k"),
    ),
    "replacement dropped": (
        lambda x: delete_req(x["a"], x["b"], "k"),
        lambda x: delete_req(x["a"], None, "k"),
    ),
}


@pytest.mark.parametrize("first_outcome", ["succeeded", "failed"])
@pytest.mark.parametrize("conflict", sorted(CONFLICTS))
async def test_a_key_reused_for_another_request_is_refused_and_changes_nothing(
    make_runtime: Callable[..., Awaitable[Runtime]],
    models: Models,
    conflict: str,
    first_outcome: str,
) -> None:
    runtime = await make_runtime(batch_size=1)
    first, second = (make(models) for make in CONFLICTS[conflict])
    if first_outcome == "succeeded":
        assert (await run_request(runtime, first)).status == "succeeded"
    else:
        await _fail_after_first_batch(runtime, first)
    before = await table_checksums(runtime.engine)

    with pytest.raises(RequestRefused, match="request_key_conflict: request_key 'k'") as refused:
        await run_request(runtime, second)

    assert refused.value.code == "request_key_conflict"
    assert await table_checksums(runtime.engine) == before


async def test_the_same_request_named_another_way_resumes_under_its_key(
    make_runtime: Callable[..., Awaitable[Runtime]], models: Models, factory: Factory
) -> None:
    runtime = await make_runtime(batch_size=1)
    await _fail_after_first_batch(runtime, migrate(models["a"], models["b"], "k"))
    by_name = migrate("openai:model-a", str(models["b"]).upper(), "k")

    assert (await run_request(runtime, by_name)).status == "succeeded"
    assert await factory.count(m.App.__table__, m.App.llm_model_id == models["b"]) == 4


RETIRERS: dict[str, tuple[Callable[[Models], Request], str]] = {
    "migrated": (lambda x: migrate(x["a"], x["c"], "other"), "source_migrated"),
    "deleted": (lambda x: delete_req(x["a"], x["c"], "other"), "source_deleted"),
}


@pytest.mark.parametrize("retired", sorted(RETIRERS))
async def test_a_resumed_request_whose_source_was_retired_meanwhile_is_rejected(
    make_runtime: Callable[..., Awaitable[Runtime]],
    models: Models,
    factory: Factory,
    retired: str,
) -> None:
    runtime = await make_runtime(batch_size=1)
    first = migrate(models["a"], models["b"], "first")
    await _fail_after_first_batch(runtime, first)
    make_other, code = RETIRERS[retired]
    assert (await run_request(runtime, make_other(models))).status == "succeeded"

    result = await run_request(runtime, first)

    assert result.status == "rejected" and code in result.codes, result
    row = await factory.request("first")
    assert row.status == "rejected" and row.error.startswith(code)
    # The batch moved before the crash stays; nothing more went to b.
    assert await factory.count(m.App.__table__, m.App.llm_model_id == models["b"]) == 1
    succeeded = await factory.count(
        m.ModelMigration.__table__,
        m.ModelMigration.from_model_id == models["a"],
        m.ModelMigration.status == "succeeded",
    )
    assert succeeded == 1


async def test_the_final_transaction_rejects_a_source_retired_after_the_batches(
    make_runtime: Callable[..., Awaitable[Runtime]], models: Models, factory: Factory
) -> None:
    runtime = await make_runtime(batch_size=1)
    moved = 0

    async def retire_source_after_last_batch(label: str, rows: int) -> None:
        nonlocal moved
        moved += rows
        if moved == 4:  # as another request would: soft-delete the source
            async with runtime.engine.begin() as conn:
                await conn.execute(
                    update(m.LlmModel)
                    .where(m.LlmModel.id == models["a"])
                    .values(deleted_at=text("now()"))
                )

    result = await run_request(
        runtime,
        migrate(models["a"], models["b"], "late"),
        after_batch=retire_source_after_last_batch,
    )

    assert result.status == "rejected" and "source_deleted" in result.codes
    source = await factory.get_model(models["a"])
    assert source.migrated_to_model_id is None
    assert await factory.count(m.AuditEvent.__table__) == 0
    assert await factory.count(m.LifecycleEvent.__table__) == 0


async def test_rerunning_a_failed_key_while_another_request_runs_says_migration_in_progress(
    make_runtime: Callable[..., Awaitable[Runtime]], models: Models, factory: Factory
) -> None:
    runtime = await make_runtime(batch_size=1)
    failed = migrate(models["a"], models["b"], "failed")
    await _fail_after_first_batch(runtime, failed)
    refusals: list[RequestRefused] = []

    async def rerun_the_failed_key(label: str, rows: int) -> None:
        if not refusals:
            with pytest.raises(RequestRefused) as refused:
                await run_request(runtime, failed)
            refusals.append(refused.value)

    result = await run_request(
        runtime, migrate(models["a"], models["c"], "running"), after_batch=rerun_the_failed_key
    )

    assert result.status == "succeeded"
    [refusal] = refusals
    assert refusal.code == "migration_in_progress" and "running" in str(refusal)
    row = await factory.request("failed")
    assert row.status == "failed"


async def test_a_target_hard_deleted_during_admission_is_a_recorded_target_not_found(
    runtime: Runtime, factory: Factory
) -> None:
    team = await factory.team()
    source, doomed = await factory.model("src"), await factory.model("doomed")
    await factory.app(team, source)
    async with runtime.engine.connect() as cleanup:
        tx = await cleanup.begin()
        # The cleanup's hard delete, not yet committed: the request reads the target, then
        # its insert waits on the row and fails its foreign key once the delete commits.
        await cleanup.execute(delete(m.LlmModel).where(m.LlmModel.id == doomed))
        task = asyncio.create_task(run_request(runtime, migrate(source, doomed, "late")))
        await wait_until_blocked_on_a_lock(runtime.engine)
        await tx.commit()
        result = await task

    assert result.status == "rejected" and "target_not_found" in result.codes, result
    row = await factory.request("late")
    assert (row.status, row.to_model_id, row.to_model_name) == ("rejected", None, "doomed")
    assert await factory.count(m.App.__table__, m.App.llm_model_id == source) == 1


async def test_spent_tries_close_a_running_request_as_failed_and_free_the_model(
    runtime: Runtime, models: Models, factory: Factory
) -> None:
    await factory.model_migration_row(
        models["a"], models["b"], status="running", request_key="crashed"
    )
    blocked = await run_request(runtime, migrate(models["a"], models["c"], "blocked"))
    assert "migration_in_progress" in blocked.codes

    await close_spent_request(runtime, "crashed", tries=5)

    row = await factory.request("crashed")
    assert row.status == "failed" and row.error.startswith("interrupted")
    assert (
        await run_request(runtime, migrate(models["a"], models["c"], "next"))
    ).status == "succeeded"
