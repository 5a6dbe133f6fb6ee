"""A request's target retired by another request while the first one runs.

Found by the 50-concurrent-requests fault test: a migration S→T kept moving rows to T
after T→X had finished, stranding live references on a migrated model.
"""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text

from db.platform.host import reference_host
from db.queries.references import usage_by_team
from jobs.errors import PermanentJobError
from jobs.request_admission import Request
from jobs.request_execution import run_request
from jobs.runtime import Runtime
from tests.factories import Factory

HOST = reference_host()


def _migrate(source: Any, target: Any, key: str) -> Request:
    return Request("migration", str(source), str(target), "races", key, True)


async def test_target_migrated_between_batches_strands_nothing(
    make_runtime: Callable[..., Awaitable[Runtime]], factory: Factory
) -> None:
    runtime = await make_runtime(batch_size=2)
    team = await factory.team()
    s, t, x = await factory.model("s"), await factory.model("t"), await factory.model("x")
    for _ in range(6):
        await factory.app(team, s)
    await factory.app(team, t)
    batches = 0

    async def retire_the_target_after_the_first_batch(label: str, moved: int) -> None:
        nonlocal batches
        batches += 1
        if batches == 1:
            done = await run_request(runtime, _migrate(t, x, "t-to-x"))
            assert done.status == "succeeded"

    with pytest.raises(PermanentJobError, match="was migrated or deleted while the request ran"):
        await run_request(
            runtime, _migrate(s, t, "s-to-t"), after_batch=retire_the_target_after_the_first_batch
        )

    async with runtime.engine.connect() as conn:
        assert await usage_by_team(conn, t, HOST.live()) == {}, (
            "live rows stranded on the migrated target"
        )
        on_x = await conn.scalar(
            text("SELECT count(*) FROM apps WHERE llm_model_id = :x"), {"x": x}
        )
        on_s = await conn.scalar(
            text("SELECT count(*) FROM apps WHERE llm_model_id = :s"), {"s": s}
        )
        status = await conn.scalar(
            text("SELECT status FROM model_migrations WHERE request_key = 's-to-t'")
        )
        source_live = await conn.scalar(
            text("SELECT migrated_to_model_id IS NULL FROM llm_models WHERE id = :s"), {"s": s}
        )
    # T's own app and the first batch went on to X with T; the rest never left S.
    assert (on_x, on_s) == (1 + 2, 4)
    assert status == "failed"
    assert source_live is True
