"""Weekly cleanup against real PostgreSQL: eligibility, locking, chains, cap, dry run."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from db import models as m
from db.platform.host import reference_host
from db.queries.cleanup import RetiredModel, select_retired_models
from jobs.cleanup import CleanupPayload, catch_up_cleanup, cleanup_retired_models, remove_model
from jobs.runtime import Runtime
from tests.factories import Factory
from tests.platforms.lifecycle import Recorder

HOST = reference_host()

JOB = "cleanup_retired_models"


def days_ago(n: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=n)


async def run(runtime: Runtime, **payload: Any) -> dict[str, Any]:
    return await cleanup_retired_models(runtime, CleanupPayload(**payload))


def removed_ids(report: dict[str, Any]) -> set[uuid.UUID]:
    return {uuid.UUID(r["model_id"]) for r in report["removed"]}


def removed_in_order(report: dict[str, Any]) -> list[uuid.UUID]:
    return [uuid.UUID(r["model_id"]) for r in report["removed"]]


def skips(report: dict[str, Any]) -> dict[uuid.UUID, str]:
    return {uuid.UUID(s["model_id"]): s["reason"] for s in report["skipped"]}


async def exists(factory: Factory, model_id: uuid.UUID) -> bool:
    return await factory.count(m.LlmModel.__table__, m.LlmModel.id == model_id) == 1


async def test_unreferenced_retired_models_are_hard_deleted_with_audit_snapshot(
    runtime: Runtime, factory: Factory
) -> None:
    team = await factory.team()
    target = await factory.model("gpt-4o")
    active = await factory.model("gpt-4o-mini")
    deleted = await factory.model("gpt-3", team_id=team, deleted_at=days_ago(3))
    migrated = await factory.model("gpt-4", migrated_to_model_id=target)
    await factory.question(team, target)  # history on non-candidates is irrelevant

    report = await run(runtime)

    assert removed_ids(report) == {deleted, migrated}
    assert report["skipped"] == [] and report["errors"] == [] and report["deferred"] == 0
    assert report["candidates"] == 2
    assert not await exists(factory, deleted) and not await exists(factory, migrated)
    assert await exists(factory, target) and await exists(factory, active)
    async with runtime.engine.connect() as conn:
        audits = {
            row.model_id: row.details
            for row in await conn.execute(
                select(m.AuditEvent).where(m.AuditEvent.action == "model.hard_deleted")
            )
        }
        run_row = (await conn.execute(select(m.LifecycleRun))).one()
    assert set(audits) == {deleted, migrated}
    snap = audits[deleted]
    assert (snap["provider"], snap["name"], snap["display_name"]) == ("openai", "gpt-3", "gpt-3")
    assert snap["team_id"] == str(team) and snap["migrated_to_model_id"] is None
    assert snap["deleted_at"] is not None
    assert audits[migrated]["migrated_to_model_id"] == str(target)
    assert audits[migrated]["run_id"] == str(report["run_id"])
    assert (run_row.job, run_row.trigger, run_row.status, run_row.dry_run) == (
        JOB,
        "manual",
        "succeeded",
        False,
    )
    assert str(run_row.id) == report["run_id"] and run_row.finished_at is not None
    assert {r["name"] for r in run_row.summary["removed"]} == {"gpt-3", "gpt-4"}


Blocker = Callable[[Factory, uuid.UUID, uuid.UUID], Awaitable[Any]]


async def _pointer(factory: Factory, team: uuid.UUID, model: uuid.UUID) -> None:
    # Another retired model points here and is itself kept by history, so it stays.
    holder = await factory.model(migrated_to_model_id=model)
    await factory.question(team, holder)


BLOCKERS: dict[str, tuple[Blocker, str, str | None]] = {
    "question": (lambda f, t, mid: f.question(t, mid), "history_references", "questions"),
    "app_run": (lambda f, t, mid: f.app_run(t, mid), "history_references", "app_runs"),
    "assistant": (lambda f, t, mid: f.assistant(t, mid), "live_references", "assistants"),
    "app": (lambda f, t, mid: f.app(t, mid), "live_references", "apps"),
    "service": (lambda f, t, mid: f.service(t, mid), "live_references", "services"),
    "template": (lambda f, t, mid: f.template(t, mid), "live_references", "templates"),
    "space": (lambda f, t, mid: f.space(t, [mid]), "live_references", "spaces"),
    "pipeline": (lambda f, t, mid: f.pipeline(t, [None, mid]), "live_references", "pipelines"),
    "migrated_to_it": (_pointer, "migration_pointer", None),
}


@pytest.mark.parametrize("blocker", sorted(BLOCKERS))
@pytest.mark.parametrize("retired_as", ["soft_deleted", "migrated"])
async def test_each_condition_alone_keeps_the_model(
    runtime: Runtime, factory: Factory, blocker: str, retired_as: str
) -> None:
    team = await factory.team()
    target = await factory.model("target")
    retired: dict[str, Any] = (
        {"deleted_at": days_ago(1)} if retired_as == "soft_deleted" else {}
    ) | ({"migrated_to_model_id": target} if retired_as == "migrated" else {})
    kept = await factory.model("kept", **retired)
    control = await factory.model("control", **retired)
    make, reason, label = BLOCKERS[blocker]
    await make(factory, team, kept)

    report = await run(runtime)

    assert await exists(factory, kept)
    assert not await exists(factory, control)
    assert control in removed_ids(report) and kept not in removed_ids(report)
    skip = next(s for s in report["skipped"] if s["model_id"] == str(kept))
    assert skip["reason"] == reason
    if label is not None:
        assert skip["labels"] == [label]
    else:
        assert len(skip["models"]) == 1


async def test_soft_deleted_templates_are_repointed_or_cleared_then_the_model_goes(
    runtime: Runtime, factory: Factory
) -> None:
    team = await factory.team()
    target = await factory.model("target")
    migrated = await factory.model("migrated", migrated_to_model_id=target)
    deleted = await factory.model("deleted", deleted_at=days_ago(2))
    old_of_migrated = await factory.template(team, migrated, deleted_at=days_ago(5))
    old_of_deleted = await factory.template(team, deleted, deleted_at=days_ago(5))

    report = await run(runtime)

    assert removed_ids(report) == {migrated, deleted}
    async with runtime.engine.connect() as conn:
        models = dict((await conn.execute(select(m.Template.id, m.Template.llm_model_id))).all())
    assert models == {old_of_migrated: target, old_of_deleted: None}
    by_id = {uuid.UUID(r["model_id"]): r for r in report["removed"]}
    assert by_id[migrated]["repointed"] == {"templates": 1}
    assert by_id[deleted]["repointed"] == {"templates": 1}


async def test_migration_history_keeps_its_snapshots(runtime: Runtime, factory: Factory) -> None:
    target = await factory.model("claude-3-5-sonnet", "anthropic")
    source = await factory.model("claude-2.0", "anthropic", migrated_to_model_id=target)
    request = await factory.model_migration_row(source, target)

    await run(runtime)

    async with runtime.engine.connect() as conn:
        row = (
            await conn.execute(select(m.ModelMigration).where(m.ModelMigration.id == request))
        ).one()
    assert row.from_model_id is None and row.to_model_id == target
    assert (row.from_provider, row.from_model_name) == ("anthropic", "claude-2.0")


async def test_reference_added_after_selection_blocks_the_delete(
    runtime: Runtime, factory: Factory
) -> None:
    team = await factory.team()
    late = await factory.model("late", deleted_at=days_ago(9))
    other = await factory.model("other", deleted_at=days_ago(1))
    seen: list[uuid.UUID] = []

    async def reference_it(model: RetiredModel) -> None:
        seen.append(model.id)
        if model.id == late:  # the main application starts using it again
            await factory.assistant(team, late)

    report = await cleanup_retired_models(runtime, CleanupPayload(), before_candidate=reference_it)

    assert seen == [late, other]  # both were selected before the reference existed
    assert skips(report) == {late: "live_references"}
    assert removed_ids(report) == {other}
    assert await exists(factory, late)


async def test_reference_committed_while_waiting_for_the_row_lock_is_seen(
    runtime: Runtime, factory: Factory
) -> None:
    """An application transaction adding a reference makes the cleanup wait, then skip."""
    team = await factory.team()
    model = await factory.model("contended", deleted_at=days_ago(3))
    async with runtime.sessions() as s:
        [candidate] = await select_retired_models(s, 10)
    async with runtime.engine.connect() as app:
        tx = await app.begin()
        await app.execute(
            text("INSERT INTO apps (team_id, name, llm_model_id) VALUES (:t, 'x', :m)"),
            {"t": team, "m": model},
        )
        # The uncommitted insert holds a key-share lock on the model row: the cleanup's
        # FOR UPDATE waits for it and, once it commits, must see the new reference.
        async with runtime.engine.connect() as cleanup:
            task = asyncio.create_task(remove_model(cleanup, candidate, HOST.references))
            await _wait_until_blocked(runtime)
            await tx.commit()
            outcome = await task
    assert (outcome.reason, outcome.detail) == ("live_references", {"labels": ["apps"]})
    assert await exists(factory, model)


async def _wait_until_blocked(runtime: Runtime) -> None:
    async with asyncio.timeout(30):
        while True:
            async with runtime.engine.connect() as conn:
                waiting = await conn.scalar(
                    text(
                        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE "
                        "datname = current_database() AND wait_event_type = 'Lock' "
                        "AND query LIKE '%FOR UPDATE%')"
                    )
                )
            if waiting:
                return
            await asyncio.sleep(0.05)


async def test_foreign_key_outside_the_registry_is_a_db_restrict_skip(
    runtime: Runtime, factory: Factory
) -> None:
    team = await factory.team()
    target = await factory.model("target")
    model = await factory.model("pinned", migrated_to_model_id=target)
    template = await factory.template(team, model, deleted_at=days_ago(1))
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE unregistered_refs (model_id uuid NOT NULL "
                "REFERENCES llm_models(id) ON DELETE RESTRICT)"
            )
        )
        await conn.execute(text("INSERT INTO unregistered_refs VALUES (:m)"), {"m": model})

    report = await run(runtime)

    assert report["errors"] == []
    skip = report["skipped"][0]
    assert (skip["model_id"], skip["reason"]) == (str(model), "db_restrict")
    assert skip["constraint"] == "unregistered_refs_model_id_fkey"
    assert await exists(factory, model)
    async with runtime.engine.connect() as conn:
        still = await conn.scalar(select(m.Template.llm_model_id).where(m.Template.id == template))
        audits = await conn.scalar(text("SELECT count(*) FROM audit_events"))
    assert still == model  # the repoint was rolled back with the delete
    assert audits == 0


async def test_chains_resolve_in_one_run(runtime: Runtime, factory: Factory) -> None:
    """Oldest first meets the pointed-at model before the models pointing at it."""
    final = await factory.model("final")
    c = await factory.model("c", deleted_at=days_ago(30))
    b = await factory.model("b", migrated_to_model_id=c, deleted_at=days_ago(20))
    a = await factory.model("a", migrated_to_model_id=b, deleted_at=days_ago(10))
    kept_holder = await factory.model("kept-holder", migrated_to_model_id=final)
    await factory.question(await factory.team(), kept_holder)

    report = await run(runtime)

    assert removed_in_order(report) == [a, b, c]
    assert skips(report) == {kept_holder: "history_references"}
    assert await exists(factory, final)


async def test_per_run_cap_defers_the_newest(
    factory: Factory, make_runtime: Callable[..., Awaitable[Runtime]]
) -> None:
    runtime = await make_runtime(cleanup_max_models=3)
    ids = [await factory.model(f"m{i}", deleted_at=days_ago(10 - i)) for i in range(5)]

    first = await run(runtime)
    assert removed_in_order(first) == ids[:3]
    assert (first["candidates"], first["deferred"]) == (3, 2)

    second = await run(runtime)
    assert removed_in_order(second) == ids[3:]
    assert (second["candidates"], second["deferred"]) == (2, 0)


async def _mixed_scenario(factory: Factory) -> None:
    team = await factory.team()
    target = await factory.model("target")
    await factory.model("plain-deleted", deleted_at=days_ago(40))
    await factory.model("plain-migrated", migrated_to_model_id=target)
    history = await factory.model("with-history", deleted_at=days_ago(35))
    await factory.question(team, history)
    live = await factory.model("with-live", migrated_to_model_id=target)
    await factory.pipeline(team, [live])
    # chain: z (oldest) <- y <- x; and w <- v where v is kept by history, so w stays.
    z = await factory.model("z", deleted_at=days_ago(50))
    y = await factory.model("y", migrated_to_model_id=z, deleted_at=days_ago(45))
    await factory.model("x", migrated_to_model_id=y, deleted_at=days_ago(5))
    w = await factory.model("w", deleted_at=days_ago(60))
    v = await factory.model("v", migrated_to_model_id=w, deleted_at=days_ago(4))
    await factory.app_run(team, v)
    soft = await factory.model("soft-template", deleted_at=days_ago(3))
    await factory.template(team, soft, deleted_at=days_ago(3))


async def test_dry_run_reports_exactly_what_the_real_run_removes(
    runtime: Runtime, factory: Factory
) -> None:
    await _mixed_scenario(factory)
    models_before = await factory.count(m.LlmModel.__table__)

    dry = await run(runtime, dry_run=True)

    assert await factory.count(m.LlmModel.__table__) == models_before
    assert await factory.count(m.AuditEvent.__table__) == 0
    real = await run(runtime)

    names = {r["name"] for r in real["removed"]}
    assert names == {"plain-deleted", "plain-migrated", "x", "y", "z", "soft-template"}
    assert removed_in_order(dry) == removed_in_order(real)
    assert skips(dry) == skips(real)
    assert {s["name"]: s["reason"] for s in real["skipped"]} == {
        "with-history": "history_references",
        "with-live": "live_references",
        "v": "history_references",
        "w": "migration_pointer",
    }
    async with runtime.engine.connect() as conn:
        runs = (
            await conn.execute(
                select(m.LifecycleRun.dry_run, m.LifecycleRun.status).order_by(
                    m.LifecycleRun.started_at
                )
            )
        ).all()
    assert runs == [(True, "succeeded"), (False, "succeeded")]


async def test_the_same_arq_job_does_not_run_twice(runtime: Runtime, factory: Factory) -> None:
    cron_run = dataclasses.replace(runtime, job_id=f"cron:{JOB}:{uuid.uuid4().int % 10**13}")
    await factory.model("old", deleted_at=days_ago(8))
    first = await run(cron_run, trigger="cron")
    await factory.model("newer", deleted_at=days_ago(1))

    again = await run(cron_run, trigger="cron")

    assert again["already_ran"] is True
    assert [r["name"] for r in again["removed"]] == [r["name"] for r in first["removed"]] == ["old"]
    assert await factory.count(m.LifecycleRun.__table__) == 1
    assert await factory.count(m.LlmModel.__table__, m.LlmModel.name == "newer") == 1


@pytest.mark.parametrize(
    ("runs", "has_candidates", "expected"),
    [
        ([], True, True),
        ([], False, False),
        ([{"finished_ago": timedelta(days=1)}], True, False),
        ([{"finished_ago": timedelta(days=8)}], True, True),
        ([{"finished_ago": timedelta(days=8)}], False, True),
        (
            [
                {"finished_ago": timedelta(days=8)},
                {"finished_ago": timedelta(hours=1), "dry_run": True},
                {"finished_ago": timedelta(hours=1), "status": "failed"},
            ],
            True,
            True,
        ),
    ],
    ids=[
        "never-ran-with-candidates",
        "never-ran-nothing-to-do",
        "recent-run",
        "stale-run",
        "stale-run-no-candidates",
        "only-dry-or-failed-runs-since",
    ],
)
async def test_catch_up_at_worker_start(
    runtime: Runtime,
    factory: Factory,
    runs: list[dict[str, Any]],
    has_candidates: bool,
    expected: bool,
) -> None:
    for values in runs:
        await factory.lifecycle_run(JOB, **values)
    if has_candidates:
        await factory.model("retired", deleted_at=days_ago(2))
    recorder = Recorder()
    starting = dataclasses.replace(runtime, enqueue=recorder)

    await catch_up_cleanup(starting)
    await catch_up_cleanup(starting)  # a second worker starting at the same moment

    if not expected:
        assert recorder.calls == []
        return
    assert len(recorder.calls) == 2 and recorder.calls[0] == recorder.calls[1]
    job, payload, key = recorder.calls[0]
    assert (job, payload) == (JOB, {"dry_run": False, "trigger": "catch_up"})
    assert key.startswith(f"catch-up:{runtime.settings.queue_name}:")


async def test_a_model_locked_by_the_application_is_skipped_and_the_run_goes_on(
    runtime: Runtime, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The main application holds the row (its write protocol's ``FOR SHARE``) past the
    lock timeout: the model is skipped as ``locked``, to be tried again next run."""
    monkeypatch.setattr("jobs.cleanup.LOCK_TIMEOUT_MS", 200)
    busy = await factory.model("busy", deleted_at=days_ago(9))
    free = await factory.model("free", deleted_at=days_ago(1))
    async with runtime.engine.connect() as other:
        tx = await other.begin()
        await other.execute(
            select(m.LlmModel.id).where(m.LlmModel.id == busy).with_for_update(read=True)
        )
        report = await run(runtime)
        await tx.rollback()

    assert removed_ids(report) == {free}
    assert report["errors"] == []
    [skipped] = report["skipped"]
    assert (skipped["model_id"], skipped["reason"]) == (str(busy), "locked")
    assert await exists(factory, busy)
    async with runtime.engine.connect() as conn:
        status = await conn.scalar(select(m.LifecycleRun.status))
    assert status == "succeeded"
