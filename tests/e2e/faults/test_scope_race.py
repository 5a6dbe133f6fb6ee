"""The scope race with real worker processes: while a global model used by one team
migrates to that team's custom model, another team (or a space above the target's level)
starts using the source. Those rows are never moved onto a model they may not use."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from db import models as m
from jobs.runtime import Runtime
from tests.e2e.faults.harness import WorkerPool
from tests.e2e.faults.scenario import batches, wait_first_batch
from tests.e2e.faults.scope import LATE_WRITES, late_rows_on_source, seed_scope_world, write_late
from tests.factories import Factory
from worker.client import JobFailed, LifecycleClient
from worker.settings import Settings

pytestmark = pytest.mark.faults

APPS = 400  # one per batch: the late write lands long before the last


@pytest.mark.parametrize("late", sorted(LATE_WRITES))
async def test_rows_written_outside_the_scope_while_it_runs_are_never_moved(
    e2e_settings: Settings,
    client: LifecycleClient,
    runtime: Runtime,
    factory: Factory,
    worker_pool: Callable[..., WorkerPool],
    late: str,
) -> None:
    world = await seed_scope_world(factory, apps=APPS)
    write, code = LATE_WRITES[late]
    pool = worker_pool(e2e_settings, LIFECYCLE_BATCH_SIZE="1")
    pool.start()
    key = f"scope-{uuid.uuid4()}"
    handle = await client.migrate_model(
        str(world.source), str(world.target), requested_by="faults", request_key=key
    )

    await wait_first_batch(runtime, key, pool)
    assert await write_late(factory, world, write), "the source was retired before the write"
    assert await batches(runtime, key) < APPS, "the write must land while the batches run"

    with pytest.raises(JobFailed, match=code):
        await client.result(handle.job_id, timeout_s=120)
    row = await factory.request(key)
    assert row.status == "failed" and code in row.warnings, row.error
    assert await late_rows_on_source(factory, world) > 0
    assert (await factory.get_model(world.source)).migrated_to_model_id is None
    owners_apps_moved = await factory.count(m.App.__table__, m.App.llm_model_id == world.target)
    assert owners_apps_moved == APPS
    on_target = await factory.count(
        m.SpaceModel.__table__, m.SpaceModel.llm_model_id == world.target
    )
    assert on_target == 1  # the owner's own space, nothing of the late rows
