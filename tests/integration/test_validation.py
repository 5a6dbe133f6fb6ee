"""Every validation code of docs/requests-and-rollouts.md: blockers refuse and change
nothing, warnings need confirmation, info never blocks."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from jobs.request_admission import Request
from jobs.request_execution import run_request
from jobs.request_result import CodesByKind
from jobs.runtime import Runtime
from tests.checksum import table_checksums
from tests.factories import Factory

TODAY = date(2026, 11, 21)
Scenario = Callable[[Factory, Runtime], Awaitable[Request]]


def req(kind: str, source: object, target: object, confirm: bool = False) -> Request:
    return Request(
        kind,  # type: ignore[arg-type]
        str(source),
        None if target is None else str(target),
        "tester",
        f"v-{uuid.uuid4()}",
        confirm,
    )


async def _pair(f: Factory, **target: object) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    team = await f.team()
    a = await f.model("src", token_limit=8000)
    b = await f.model("dst", token_limit=8000, **target)
    await f.assistant(team, a)
    return team, a, b


async def same_model(f: Factory, rt: Runtime) -> Request:
    _, a, _ = await _pair(f)
    return req("migration", a, a)


async def source_not_found(f: Factory, rt: Runtime) -> Request:
    _, _, b = await _pair(f)
    return req("migration", uuid.uuid4(), b)


async def target_not_found(f: Factory, rt: Runtime) -> Request:
    _, a, _ = await _pair(f)
    return req("migration", a, "openai:no-such-model")


async def source_migrated(f: Factory, rt: Runtime) -> Request:
    _, a, b = await _pair(f)
    c = await f.model("other")
    await _sql(rt, "UPDATE llm_models SET migrated_to_model_id = :c WHERE id = :a", a=a, c=c)
    return req("migration", a, b)


async def source_deleted(f: Factory, rt: Runtime) -> Request:
    _, a, b = await _pair(f)
    await _sql(rt, "UPDATE llm_models SET deleted_at = now() WHERE id = :a", a=a)
    return req("migration", a, b)


async def target_migrated(f: Factory, rt: Runtime) -> Request:
    _, a, b = await _pair(f)
    c = await f.model("other")
    await _sql(rt, "UPDATE llm_models SET migrated_to_model_id = :c WHERE id = :b", b=b, c=c)
    return req("migration", a, b, confirm=True)


async def target_deleted(f: Factory, rt: Runtime) -> Request:
    _, a, b = await _pair(f)
    await _sql(rt, "UPDATE llm_models SET deleted_at = now() WHERE id = :b", b=b)
    return req("migration", a, b, confirm=True)


async def migration_in_progress(f: Factory, rt: Runtime) -> Request:
    _, a, b = await _pair(f)
    await _sql(
        rt,
        "INSERT INTO model_migrations (kind, request_key, from_model_id, status) "
        "VALUES ('migration', 'other-request', :a, 'running')",
        a=a,
    )
    return req("migration", a, b)


async def team_scope_mismatch(f: Factory, rt: Runtime) -> Request:
    _, a, _ = await _pair(f)
    other = await f.team()
    custom = await f.model("custom", team_id=other, token_limit=8000)
    return req("migration", a, custom)


async def security_level_insufficient(f: Factory, rt: Runtime) -> Request:
    team, a, b = await _pair(f, security_level=1)
    await f.space(team, [a], required_security_level=3)
    return req("migration", a, b)


async def replacement_required(f: Factory, rt: Runtime) -> Request:
    _, a, _ = await _pair(f)
    return req("deletion", a, None)


async def _sql(rt: Runtime, sql: str, **params: object) -> None:
    async with rt.engine.begin() as conn:
        await conn.execute(text(sql), params)


BLOCKERS: dict[str, Scenario] = {
    "same_model": same_model,
    "source_not_found": source_not_found,
    "target_not_found": target_not_found,
    "source_migrated": source_migrated,
    "source_deleted": source_deleted,
    "target_migrated": target_migrated,
    "target_deleted": target_deleted,
    "migration_in_progress": migration_in_progress,
    "team_scope_mismatch": team_scope_mismatch,
    "security_level_insufficient": security_level_insufficient,
    "replacement_required": replacement_required,
}


@pytest.mark.parametrize("code", sorted(BLOCKERS))
async def test_blocker_refuses_and_changes_nothing(
    code: str, factory: Factory, runtime: Runtime
) -> None:
    request = await BLOCKERS[code](factory, runtime)
    before = await table_checksums(runtime.engine, exclude=("model_migrations",))
    result = await run_request(runtime, request, today=TODAY)
    assert result.status == "rejected"
    assert code in result.codes_by_kind.blockers
    assert any(msg.startswith(f"{code}: ") for msg in result.messages)
    assert await table_checksums(runtime.engine, exclude=("model_migrations",)) == before
    async with runtime.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT status, warnings, error FROM model_migrations WHERE request_key = :k"),
                {"k": request.request_key},
            )
        ).one()
    assert row.status == "rejected" and code in row.warnings and code in row.error


async def test_replacement_required_reports_counts(factory: Factory, runtime: Runtime) -> None:
    team = await factory.team()
    a = await factory.model()
    await factory.assistant(team, a)
    await factory.assistant(team, a)
    await factory.app(team, a)
    result = await run_request(runtime, req("deletion", a, None), today=TODAY)
    assert result.codes_by_kind.blockers == ["replacement_required"]
    assert "2 assistants" in result.messages[0]
    assert result.counts == {"assistants": 2, "apps": 1}


WARNING_TARGETS: dict[str, dict[str, object]] = {
    "target_deprecated": {"deprecated": True},
    "target_retiring": {"deprecation_date": TODAY + timedelta(days=10)},
    "context_window_reduced": {"token_limit": 4000},
    "capability_lost:vision": {},
    "capability_lost:tools": {},
    "capability_lost:reasoning": {},
    "provider_changed": {"provider": "anthropic"},
}


@pytest.mark.parametrize("code", sorted(WARNING_TARGETS))
async def test_warning_refuses_unless_confirmed(
    code: str, factory: Factory, runtime: Runtime
) -> None:
    team = await factory.team()
    source_caps = {}
    if code.startswith("capability_lost:"):
        source_caps = {f"supports_{code.split(':')[1]}": True}
    a = await factory.model("src", token_limit=8000, **source_caps)
    b = await factory.model("dst", **{"token_limit": 8000, **WARNING_TARGETS[code]})
    await factory.app(team, a)

    refused = await run_request(runtime, req("migration", a, b), today=TODAY)
    assert refused.status == "rejected"
    assert refused.codes_by_kind == CodesByKind(blockers=[], warnings=[code], info=[])
    async with runtime.engine.connect() as conn:
        still = await conn.scalar(
            text("SELECT count(*) FROM apps WHERE llm_model_id = :a"), {"a": a}
        )
    assert still == 1

    done = await run_request(runtime, req("migration", a, b, confirm=True), today=TODAY)
    assert done.status == "succeeded"
    assert code in done.codes


async def test_past_deprecation_date_counts_as_deprecated(
    factory: Factory, runtime: Runtime
) -> None:
    a = await factory.model("src")
    b = await factory.model("dst", deprecation_date=TODAY - timedelta(days=1))
    result = await run_request(runtime, req("migration", a, b), today=TODAY)
    assert result.codes_by_kind.warnings == ["target_deprecated"]


async def test_parameters_translated_is_info_and_never_blocks(
    factory: Factory, runtime: Runtime
) -> None:
    team = await factory.team()
    a, b = await factory.model("src"), await factory.model("dst")
    await factory.assistant(team, a, model_parameters={"temperature": 0.9})
    result = await run_request(runtime, req("migration", a, b), today=TODAY)
    assert result.status == "succeeded"
    assert result.codes == ["parameters_translated"]


async def test_team_custom_target_serves_its_own_team(factory: Factory, runtime: Runtime) -> None:
    team = await factory.team()
    a = await factory.model("src", team_id=team)
    custom = await factory.model("dst", team_id=team)
    await factory.app(team, a)
    result = await run_request(runtime, req("migration", a, custom), today=TODAY)
    assert result.status == "succeeded"


async def test_security_level_met_is_not_a_blocker(factory: Factory, runtime: Runtime) -> None:
    team = await factory.team()
    a, b = await factory.model("src"), await factory.model("dst", security_level=3)
    await factory.space(team, [a], required_security_level=3)
    result = await run_request(runtime, req("migration", a, b), today=TODAY)
    assert result.status == "succeeded"
