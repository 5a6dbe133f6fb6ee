"""The catalog sync against real PostgreSQL: plan, apply, events, deletions, prune-check."""

import dataclasses
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from db.models import AuditEvent, LifecycleEvent, LifecycleRun, LlmModel
from jobs.catalog import SyncCatalogPayload, prune_check, sync_catalog
from jobs.catalog_file import parse_deleted_entries
from jobs.errors import InvalidPayload
from jobs.request_result import RequestResult
from jobs.runtime import Runtime
from tests.factories import Factory

TODAY = date(2026, 11, 21)


class Recorder:
    """An ``enqueue`` that remembers what it was asked to queue."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], str]] = []

    async def __call__(self, job: str, payload: dict[str, Any], key: str) -> None:
        self.calls.append((job, payload, key))

    def of(self, job: str) -> list[tuple[dict[str, Any], str]]:
        return [(payload, key) for name, payload, key in self.calls if name == job]


@pytest.fixture
def queue() -> Recorder:
    return Recorder()


@pytest.fixture
def rt(runtime: Runtime, queue: Recorder) -> Runtime:
    return dataclasses.replace(runtime, enqueue=queue)


def _model(name: str, provider: str = "openai", **values: Any) -> dict[str, Any]:
    return {"provider": provider, "name": name, "token_limit": 8192, **values}


async def _sync(rt: Runtime, catalog: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
    payload = SyncCatalogPayload(catalog=catalog, dry_run=dry_run, requested_by="tester")
    return await sync_catalog(rt, payload, today=TODAY)


async def _global(rt: Runtime, name: str, provider: str = "openai") -> LlmModel:
    async with rt.sessions() as session:
        row = await session.scalar(
            select(LlmModel).where(
                LlmModel.provider == provider,
                LlmModel.name == name,
                LlmModel.team_id.is_(None),
                LlmModel.deleted_at.is_(None),
            )
        )
    assert row is not None, f"{provider}:{name} missing"
    return row


async def _events(rt: Runtime) -> list[LifecycleEvent]:
    async with rt.sessions() as session:
        return list((await session.scalars(select(LifecycleEvent))).all())


CATALOG = {
    "models": [
        _model("gpt-4o", token_limit=128000, vision=True, tools=True),
        _model("gpt-4", token_limit=8192, deprecated=True, replacement="gpt-4o"),
    ]
}


async def test_sync_creates_updates_deprecates_and_reports_unmanaged(
    rt: Runtime, factory: Factory, queue: Recorder
) -> None:
    team = await factory.team()
    gpt4 = await factory.model("gpt-4", token_limit=4096)
    await factory.assistant(team, gpt4)
    legacy = await factory.model("legacy")
    await factory.model("custom", team_id=team)  # a team's own model is not the catalog's

    result = await _sync(rt, CATALOG)

    gpt4o = await _global(rt, "gpt-4o")
    assert (gpt4o.token_limit, gpt4o.supports_vision, gpt4o.supports_tools) == (128000, True, True)
    assert gpt4o.display_name == "gpt-4o" and not gpt4o.deprecated
    row = await _global(rt, "gpt-4")
    assert (row.token_limit, row.deprecated, row.deprecation_source) == (8192, True, "catalog")
    assert row.replacement_model_id == gpt4o.id
    plan = result["plan"]
    assert [c["model"] for c in plan["created"]] == ["openai:gpt-4o"]
    assert plan["updated"] == [
        {
            "model": "openai:gpt-4",
            "id": gpt4,
            "changes": {
                "token_limit": {"from": 4096, "to": 8192},
                "deprecated": {"from": False, "to": True},
                "replacement": {"from": None, "to": "openai:gpt-4o"},
            },
        }
    ]
    assert plan["deprecated"] == [
        {"model": "openai:gpt-4", "id": gpt4, "replacement": "openai:gpt-4o"}
    ]
    assert plan["unmanaged"] == [{"model": "openai:legacy", "id": legacy}]
    assert (await _global(rt, "legacy")).deleted_at is None

    [event] = await _events(rt)
    assert (event.slug, event.model_id, event.dedup_key) == (
        "llm-model-deprecated",
        gpt4,
        f"llm-model-deprecated:{gpt4}",
    )
    assert (event.replacement_provider, event.replacement_model_name) == ("openai", "gpt-4o")
    assert event.payload == {str(team): {"assistants": 1}}
    assert queue.of("fanout_event") == [({"event_id": str(event.id)}, str(event.id))]

    async with rt.sessions() as session:
        run = await session.scalar(select(LifecycleRun))
        audit = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "catalog.synced")
        )
    assert run is not None and audit is not None
    assert (run.job, run.status, run.trigger, run.dry_run) == (
        "sync_catalog",
        "succeeded",
        "manual",
        False,
    )
    assert run.summary["counts"]["created"] == 1 and run.summary["plan"]["unmanaged"]
    assert audit.actor == "tester" and audit.details["run_id"] == str(run.id)
    assert result["run_id"] == run.id


async def test_second_sync_changes_nothing_and_notifies_nobody(
    rt: Runtime, factory: Factory, queue: Recorder
) -> None:
    await factory.model("gpt-4", token_limit=4096)
    await _sync(rt, CATALOG)
    before = {
        (m.name, m.updated_at) for m in [await _global(rt, "gpt-4"), await _global(rt, "gpt-4o")]
    }
    queued = len(queue.calls)

    again = await _sync(rt, CATALOG)

    assert again["counts"] == {
        "created": 0,
        "updated": 0,
        "deprecated": 0,
        "undeprecated": 0,
        "deleted": 0,
        "already_deleted": 0,
        "unmanaged": 0,
        "unchanged": 2,
    }
    after = {
        (m.name, m.updated_at) for m in [await _global(rt, "gpt-4"), await _global(rt, "gpt-4o")]
    }
    assert after == before
    assert len(await _events(rt)) == 1 and len(queue.calls) == queued


async def test_dry_run_plan_is_what_the_real_run_does(rt: Runtime, factory: Factory) -> None:
    team = await factory.team()
    old = await factory.model("claude-2.0", "anthropic")
    await factory.app(team, old)
    await factory.model("gpt-4", token_limit=4096, supports_reasoning=True)
    await factory.model("stray")
    catalog = {
        **CATALOG,
        "deleted": [
            {"provider": "anthropic", "name": "claude-2.0", "replacement": "openai:gpt-4o"}
        ],
    }

    dry = await _sync(rt, catalog, dry_run=True)
    assert len(await _events(rt)) == 0
    async with rt.sessions() as session:
        assert await session.scalar(select(LlmModel).where(LlmModel.name == "gpt-4o")) is None
        assert await session.scalar(select(LifecycleRun)) is None
    real = await _sync(rt, catalog)

    assert dry["plan"] == real["plan"]
    assert dry["plan"]["updated"][0]["changes"]["reasoning"] == {"from": True, "to": False}
    [deletion] = real["plan"]["deleted"]
    assert deletion["usage"] == {"apps": 1} and deletion["teams"] == {str(team): {"apps": 1}}


async def test_flag_removed_from_catalog_undeprecates_unless_litellm_date_passed(
    rt: Runtime, factory: Factory
) -> None:
    await factory.model(
        "gpt-3.5", deprecated=True, deprecation_source="litellm", deprecation_date=date(2026, 1, 1)
    )
    await factory.model("gpt-4o-mini", deprecated=True, deprecation_date=date(2027, 1, 1))
    await _sync(rt, {"models": [_model("gpt-4", deprecated=True)]})
    assert (await _global(rt, "gpt-4")).deprecated

    result = await _sync(
        rt, {"models": [_model("gpt-4"), _model("gpt-3.5"), _model("gpt-4o-mini")]}
    )

    gpt4 = await _global(rt, "gpt-4")
    assert (gpt4.deprecated, gpt4.deprecation_source) == (False, None)
    assert (await _global(rt, "gpt-3.5")).deprecated  # its litellm date has passed
    assert not (await _global(rt, "gpt-4o-mini")).deprecated  # a future date does not count
    assert [u["model"] for u in result["plan"]["undeprecated"]] == [
        "openai:gpt-4",
        "openai:gpt-4o-mini",
    ]
    assert len(await _events(rt)) == 1  # the first deprecation only


async def test_catalog_with_errors_is_refused_whole(rt: Runtime, factory: Factory) -> None:
    await factory.model("gpt-4", token_limit=4096)
    catalog = {
        "models": [
            _model("gpt-4", token_limit=9999),
            _model("new-one"),
            _model("new-one"),
            _model("x", replacement="ghost"),
        ]
    }
    with pytest.raises(InvalidPayload) as info:
        await _sync(rt, catalog)
    message = str(info.value)
    assert "models: duplicate entry openai:new-one" in message
    assert "unknown replacement openai:ghost" in message
    assert (await _global(rt, "gpt-4")).token_limit == 4096
    async with rt.sessions() as session:
        assert await session.scalar(select(LlmModel).where(LlmModel.name == "new-one")) is None
        run = await session.scalar(select(LifecycleRun))
    assert run is not None and run.status == "rejected" and len(run.summary["errors"]) == 2


async def test_deleted_entries_are_handed_to_delete_model(
    rt: Runtime, factory: Factory, queue: Recorder
) -> None:
    team = await factory.team()
    live = await factory.model("claude-2.0", "anthropic")
    await factory.assistant(team, live)
    await factory.model("claude-1", "anthropic", deleted_at=datetime.now(UTC))
    catalog = {
        "models": [_model("claude-3", "anthropic")],
        "deleted": [
            {"provider": "anthropic", "name": "claude-2.0", "replacement": "claude-3"},
            {"provider": "anthropic", "name": "claude-1"},
            {"provider": "anthropic", "name": "claude-0"},
        ],
    }

    result = await _sync(rt, catalog)

    claude3 = await _global(rt, "claude-3", "anthropic")
    key = f"catalog-delete:{live}:{claude3.id}"
    assert queue.of("delete_model") == [
        (
            {
                "model": str(live),
                "replacement": str(claude3.id),
                "requested_by": "catalog",
                "request_key": key,
            },
            key,
        )
    ]
    assert (await _global(rt, "claude-2.0", "anthropic")).deleted_at is None  # not ours to delete
    plan = result["plan"]
    assert [(d["model"], d["usage"]) for d in plan["deleted"]] == [
        ("anthropic:claude-2.0", {"assistants": 1})
    ]
    assert plan["already_deleted"] == [
        {"model": "anthropic:claude-1", "state": "soft_deleted"},
        {"model": "anthropic:claude-0", "state": "absent"},
    ]
    assert result["delete_requests"] == [key]


async def _deleted_audit(
    rt: Runtime, provider: str, name: str, days_ago: int, team_id: uuid.UUID | None = None
) -> None:
    details = {"provider": provider, "name": name, "team_id": str(team_id) if team_id else None}
    async with rt.engine.begin() as conn:
        await conn.execute(
            insert(AuditEvent).values(
                action="model.deleted",
                actor="test",
                model_id=uuid.uuid4(),
                details=details,
                created_at=datetime.now(UTC) - timedelta(days=days_ago),
            )
        )


async def test_prune_check_uses_the_audit_trail_and_the_models_table(
    rt: Runtime, factory: Factory
) -> None:
    team = await factory.team()
    await _deleted_audit(rt, "x", "gone-long-ago", 40)
    await _deleted_audit(rt, "x", "gone-long-ago", 10)  # a later re-deletion: earliest counts
    await _deleted_audit(rt, "x", "awaiting-cleanup", 40)
    await factory.model("awaiting-cleanup", "x", deleted_at=datetime.now(UTC))
    await _deleted_audit(rt, "x", "recent", 5)
    await _deleted_audit(rt, "x", "team-only", 40, team_id=team)
    deleted = parse_deleted_entries(
        {
            "deleted": [
                {"provider": "x", "name": n}
                for n in ("gone-long-ago", "awaiting-cleanup", "recent", "team-only")
            ]
        }
    )

    async with rt.sessions() as session:
        verdict = await prune_check(session, deleted)

    assert [s["model"] for s in verdict["safe"]] == ["x:gone-long-ago"]
    assert [(k["model"], k["reason"]) for k in verdict["keep"]] == [
        ("x:awaiting-cleanup", "still in the database (awaiting cleanup)"),
        ("x:recent", "deleted 5 day(s) ago"),
        ("x:team-only", "no deletion recorded yet"),
    ]


async def test_optional_fields_left_out_keep_the_databases_values(
    rt: Runtime, factory: Factory
) -> None:
    await factory.model(
        "gpt-4",
        token_limit=8192,
        display_name="GPT-4 (legacy)",
        security_level=3,
        litellm_model="gpt-4-0613",
    )
    result = await _sync(rt, {"models": [_model("gpt-4")]})
    row = await _global(rt, "gpt-4")
    assert (row.display_name, row.security_level, row.litellm_model) == (
        "GPT-4 (legacy)",
        3,
        "gpt-4-0613",
    )
    assert result["counts"]["unchanged"] == 1

    given = _model("gpt-4", display_name="GPT-4", security_level=1, litellm_model="gpt-4")
    result = await _sync(rt, {"models": [given]})
    row = await _global(rt, "gpt-4")
    assert (row.display_name, row.security_level, row.litellm_model) == ("GPT-4", 1, "gpt-4")
    assert set(result["plan"]["updated"][0]["changes"]) == {
        "display_name",
        "security_level",
        "litellm_model",
    }


async def test_a_catalog_of_ten_thousand_new_models_syncs(rt: Runtime, factory: Factory) -> None:
    """More rows than one statement can bind parameters for (32,767): inserted in chunks."""
    catalog = {"models": [_model(f"bulk-{i}") for i in range(10_000)]}

    started = time.monotonic()
    result = await _sync(rt, catalog)
    elapsed = time.monotonic() - started

    assert result["counts"]["created"] == 10_000
    assert await factory.count(LlmModel.__table__, LlmModel.name.like("bulk-%")) == 10_000
    print(f"\n10,000-model catalog sync: {elapsed:.2f}s")
    again = await _sync(rt, catalog)
    assert again["counts"]["created"] == 0 and again["counts"]["unchanged"] == 10_000


async def _sync_and_run_deletions(
    rt: Runtime, queue: Recorder, catalog: dict[str, Any]
) -> list[RequestResult]:
    """Sync, then run each deletion it queued as the worker would (in order)."""
    from jobs.migration import delete_model
    from jobs.request_admission import DeleteModelPayload

    queue.calls.clear()
    synced = await _sync(rt, catalog)
    outcomes = [
        await delete_model(rt, DeleteModelPayload(**payload))
        for payload, _ in queue.of("delete_model")
    ]
    assert [o.request_key for o in outcomes] == synced["delete_requests"]
    return outcomes


async def test_a_refused_catalog_deletion_is_done_once_the_entry_names_a_replacement(
    rt: Runtime, factory: Factory, queue: Recorder
) -> None:
    team = await factory.team()
    old = await factory.model("old")
    await factory.assistant(team, old)  # cannot be cleared: a replacement is required
    catalog: dict[str, Any] = {
        "models": [_model("new")],
        "deleted": [{"provider": "openai", "name": "old"}],
    }

    [refused] = await _sync_and_run_deletions(rt, queue, catalog)
    assert refused.status == "rejected" and "replacement_required" in refused.codes
    [again] = await _sync_and_run_deletions(rt, queue, catalog)
    assert again.status == "rejected" and again.request_key == refused.request_key

    catalog["deleted"][0]["replacement"] = "new"
    [done] = await _sync_and_run_deletions(rt, queue, catalog)

    assert done.status == "succeeded" and done.request_key != refused.request_key
    assert (await factory.get_model(old)).deleted_at is not None


async def test_a_model_deleted_recreated_and_deleted_again_is_deleted_again(
    rt: Runtime, factory: Factory, queue: Recorder
) -> None:
    deleted = {"models": [], "deleted": [{"provider": "openai", "name": "phoenix"}]}
    await factory.model("phoenix")
    [first] = await _sync_and_run_deletions(rt, queue, deleted)
    assert first.status == "succeeded"

    await _sync(rt, {"models": [_model("phoenix")]})  # re-created by the catalog
    [second] = await _sync_and_run_deletions(rt, queue, deleted)

    assert second.status == "succeeded" and second.request_key != first.request_key
    live = await factory.count(
        LlmModel.__table__, LlmModel.name == "phoenix", LlmModel.deleted_at.is_(None)
    )
    assert live == 0
