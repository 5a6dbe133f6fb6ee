"""Gentle on the host, on every platform: a request's batches start at the minimum, grow
toward the maximum while they are faster than the target time, never exceed it, and wait
the configured pause between them (read from the batches the request recorded)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text

from db.keys import parse_host_id
from jobs.migration import run_request
from jobs.runtime import Runtime
from tests.conftest import PlatformUnderTest
from tests.platforms import every_platform
from tests.platforms.lifecycle import migration, rows

pytestmark = every_platform

MINIMUM, MAXIMUM, PAUSE_MS = 2, 8, 40
# Far above what a batch of eight rows takes: each batch is followed by one twice its size.
SLOW_TARGET_MS = 60_000


async def batches_by_label(runtime: Runtime, key: str) -> dict[str, list[int]]:
    """``{label: rows of each batch, in order}`` of the request under ``key``."""
    found = await rows(
        runtime,
        "SELECT b.label, b.rows FROM model_migration_batches b JOIN model_migrations m "
        "ON m.id = b.migration_id WHERE m.request_key = :k ORDER BY b.created_at, b.id",
        k=key,
    )
    by_label: dict[str, list[int]] = {}
    for label, n in found:
        by_label.setdefault(label, []).append(n)
    return by_label


async def test_batches_grow_from_the_minimum_to_the_maximum_and_pause_between(
    platform: PlatformUnderTest, make_runtime: Callable[..., Awaitable[Runtime]]
) -> None:
    fleet: dict[str, Any] = await platform.driver.seed_fleet(teams=1, per_team=30)
    runtime = await make_runtime(
        batch_size=MAXIMUM,
        batch_min=MINIMUM,
        batch_target_ms=SLOW_TARGET_MS,
        batch_pause_ms=PAUSE_MS,
    )
    request = migration(parse_host_id(fleet["source"]), parse_host_id(fleet["target"]))
    result = await run_request(runtime, request)
    assert result.status == "succeeded", result

    by_label = await batches_by_label(runtime, request.request_key)
    assert {label: sum(n) for label, n in by_label.items()} == result.counts
    for label, sizes in by_label.items():
        # 2, 4, 8, 8, …: each batch full at its size, the last one what was left.
        allowed = [min(MINIMUM * 2**i, MAXIMUM) for i in range(len(sizes))]
        assert sizes[:-1] == allowed[:-1], label
        assert 0 < sizes[-1] <= allowed[-1], label
    assert any(len(sizes) > 3 for sizes in by_label.values()), "the maximum was never reached"

    # Each batch's transaction began at least the pause after the one before it began.
    gaps = await rows(
        runtime,
        "SELECT extract(epoch FROM b.created_at - lag(b.created_at) OVER w) * 1000 AS ms "
        "FROM model_migration_batches b JOIN model_migrations m ON m.id = b.migration_id "
        "WHERE m.request_key = :k WINDOW w AS (ORDER BY b.created_at, b.id)",
        k=request.request_key,
    )
    spaced = [float(g.ms) for g in gaps if g.ms is not None]
    assert len(spaced) == sum(len(s) for s in by_label.values()) - 1
    assert min(spaced) >= PAUSE_MS


async def test_batches_and_the_final_transaction_are_planned_without_jit(
    platform: PlatformUnderTest,
) -> None:
    """PostgreSQL compiled a batch's statement on every execution (its JSON subqueries lift
    the estimate over ``jit_above_cost``), several times the cost of the move itself: a
    request's transactions turn JIT off for themselves only. Triggers record the setting
    each statement that writes a reference, and the request's final status, ran under."""
    fleet: dict[str, Any] = await platform.driver.seed_fleet(teams=2, per_team=5)
    runtime = platform.runtime
    host = runtime.platform
    seen = host.qualified("jit_seen")
    async with runtime.engine.begin() as conn:
        assert await conn.scalar(text("SHOW jit")) == "on", "the server compiles by default"
        await conn.execute(text(f"CREATE TABLE {seen} (written text, jit text)"))
        await conn.execute(
            text(
                f"CREATE FUNCTION {host.qualified('note_jit')}() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN IF TG_LEVEL = 'ROW' THEN "
                f"INSERT INTO {seen} VALUES (TG_TABLE_NAME || ' ' || NEW.status, "
                "current_setting('jit')); ELSE "
                f"INSERT INTO {seen} VALUES (TG_TABLE_NAME, current_setting('jit')); "
                "END IF; RETURN NULL; END $$"
            )
        )
        for table in {ref.table for ref in host.live()}:
            await conn.execute(
                text(
                    f"CREATE TRIGGER note_jit AFTER INSERT OR UPDATE OR DELETE ON "
                    f"{host.qualified(table)} FOR EACH STATEMENT "
                    f"EXECUTE FUNCTION {host.qualified('note_jit')}()"
                )
            )
        await conn.execute(
            text(
                "CREATE TRIGGER note_jit AFTER UPDATE OF status ON model_migrations "
                f"FOR EACH ROW EXECUTE FUNCTION {host.qualified('note_jit')}()"
            )
        )

    request = migration(parse_host_id(fleet["source"]), parse_host_id(fleet["target"]))
    result = await run_request(runtime, request)
    assert result.status == "succeeded", result

    noted = await rows(runtime, f"SELECT written, jit FROM {seen}")
    moves = [jit for written, jit in noted if not written.startswith("model_migrations")]
    assert moves and set(moves) == {"off"}, noted
    assert [jit for written, jit in noted if written == "model_migrations succeeded"] == ["off"]
    async with runtime.engine.connect() as conn:
        assert await conn.scalar(text("SHOW jit")) == "on"
