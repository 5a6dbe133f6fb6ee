"""A space's minimum security level two keys away (an Eneo-shaped host: space →
classification → level), mapped the way docs/platform-mapping.md says: through a host view
that gives each space its level. `platform check` accepts it, and real requests honour it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date

import pytest
from sqlalchemy import text

from jobs.migration import run_request
from jobs.runtime import Runtime
from tests.platforms import SPACE_LEVELS
from tests.platforms.lifecycle import migration
from tests.services import adopt_host
from worker.app import build_runtime

HostDatabase = Callable[..., Awaitable[str]]
TODAY = date(2026, 11, 21)


@pytest.fixture
async def host(host_database: HostDatabase) -> AsyncIterator[Runtime]:
    url = await host_database(SPACE_LEVELS, seed=False)
    settings, report = await adopt_host(url, SPACE_LEVELS)  # the check raises on an error
    # The only remark: a view carries no foreign key.
    assert [f.message for f in report.warnings] == [
        "space_security_levels is a view, so no foreign key can hold "
        "spaces_completion_models.space_id → space_security_levels.id: a space_id naming no row "
        "of the view leaves its row without a team (moved, never notified)"
    ]
    runtime = build_runtime(settings)
    yield runtime
    await runtime.engine.dispose()


async def _one(runtime: Runtime, sql: str, **params: object) -> uuid.UUID:
    async with runtime.engine.begin() as conn:
        value = await conn.scalar(text(sql), params)
    assert isinstance(value, uuid.UUID)
    return value


async def _level(runtime: Runtime, tenant: uuid.UUID, level: int) -> uuid.UUID:
    return await _one(
        runtime,
        "INSERT INTO public.security_classifications (tenant_id, name, security_level) "
        "VALUES (:t, :n, :l) RETURNING id",
        t=tenant,
        n=f"level {level}",
        l=level,
    )


async def _model(runtime: Runtime, name: str, classification: uuid.UUID | None) -> uuid.UUID:
    return await _one(
        runtime,
        "INSERT INTO public.completion_models (provider, name, token_limit, "
        "security_classification_id) VALUES ('openai', :n, 8000, :c) RETURNING id",
        n=name,
        c=classification,
    )


async def _space_models(runtime: Runtime, space: uuid.UUID) -> list[uuid.UUID]:
    async with runtime.engine.connect() as conn:
        rows = await conn.scalars(
            text(
                "SELECT completion_model_id FROM public.spaces_completion_models "
                "WHERE space_id = :s"
            ),
            {"s": space},
        )
        return list(rows)


async def test_a_space_level_two_keys_away_blocks_a_lower_target_and_admits_a_higher(
    host: Runtime,
) -> None:
    tenant = await _one(host, "INSERT INTO public.tenants (name) VALUES ('Acme') RETURNING id")
    secret, internal, top = [await _level(host, tenant, n) for n in (2, 1, 3)]
    source = await _model(host, "open", None)
    low = await _model(host, "internal-only", internal)
    high = await _model(host, "top-secret", top)
    space = await _one(
        host,
        "INSERT INTO public.spaces (tenant_id, name, security_classification_id) "
        "VALUES (:t, 'Legal', :c) RETURNING id",
        t=tenant,
        c=secret,
    )
    async with host.engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO public.spaces_completion_models VALUES (:s, :m)"),
            {"s": space, "m": source},
        )

    refused = await run_request(host, migration(source, low), today=TODAY)
    assert refused.status == "rejected"
    assert "security_level_insufficient" in refused.codes
    assert await _space_models(host, space) == [source]

    moved = await run_request(host, migration(source, high), today=TODAY)
    assert moved.status == "succeeded", moved
    assert moved.counts == {"spaces": 1}
    assert await _space_models(host, space) == [high]
