"""What a scrape reads while a migration runs: its progress, batches and rows moved."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from jobs.request_execution import run_request
from jobs.runtime import Runtime
from tests.platforms import every_platform
from tests.platforms.drivers import PLAIN, HostDriver
from tests.platforms.lifecycle import migration, tally
from worker.metrics import WorkerMetrics
from worker.settings import Settings

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(metrics: WorkerMetrics) -> Samples:
    """A scrape as the HTTP server's thread makes it (it asks this loop for the reads)."""
    exposition = (await asyncio.to_thread(generate_latest, metrics.registry)).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    }


@every_platform
async def test_a_scrape_mid_migration_shows_its_progress_and_rows_moved(
    driver: HostDriver,
    make_runtime: Callable[..., Awaitable[Runtime]],
    test_settings: Callable[..., Settings],
) -> None:
    team = await driver.team()
    source, target = await driver.model("gauge-a"), await driver.model("gauge-b")
    labels = [label for _ in range(3) for label in await driver.live_reference(team, source, PLAIN)]
    metrics = WorkerMetrics(test_settings())
    runtime = dataclasses.replace(await make_runtime(batch_size=1), observer=metrics)
    request = migration(source, target)
    seen: list[Samples] = []

    async def scrape_after_the_first_batch(label: str, rows: int) -> None:
        if not seen:
            seen.append(await scrape(metrics))

    await metrics.start(runtime)
    try:
        result = await run_request(runtime, request, after_batch=scrape_after_the_first_batch)
        after = await scrape(metrics)
    finally:
        await metrics.stop()

    assert result.status == "succeeded"
    key = frozenset({"request_key": request.request_key, "kind": "migration"}.items())
    (during,) = seen
    assert during[("lifecycle_request_rows_done", key)] == 1
    assert during[("lifecycle_request_rows_planned", key)] == len(labels)
    # Finished: no longer an active request.
    assert ("lifecycle_request_rows_done", key) not in after
    moved = {
        dict(found)["reference"]: n
        for (name, found), n in after.items()
        if name == "lifecycle_rows_moved_total" and n
    }
    assert moved == tally(labels)
