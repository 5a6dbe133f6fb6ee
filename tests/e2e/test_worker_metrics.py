"""`lifecycle worker --http PORT`: Prometheus metrics and a probe, scraped over real HTTP
from a worker subprocess while it runs a migration and its deliveries."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from jobs.runtime import Runtime
from tests.platforms import every_platform
from tests.platforms.drivers import HostDriver
from tests.platforms.lifecycle import tally
from tests.receivers import HttpReceiver, free_port
from worker.client import LifecycleClient

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
SECRET = "metrics-secret"
# How long the test waits for the worker to come up or to finish sending.
WAIT_S = 60.0


def parse(exposition: str) -> Samples:
    """Every sample of a scrape, by name and labels (the client library's parser)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    # The webhook is accepted; Slack (calls without an idempotency key) answers 400,
    # which fails a delivery at once.
    started = await HttpReceiver(
        secret=SECRET, rule=lambda key, seen: 400 if not key else None
    ).start()
    yield started
    await started.stop()


async def scrape(http: httpx.AsyncClient, base: str) -> Samples:
    answer = await http.get(f"{base}/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return parse(answer.text)


async def until(http: httpx.AsyncClient, base: str, ready: Callable[[Samples], bool]) -> Samples:
    """Scrape until ``ready`` holds (the worker sends in the background)."""
    async with asyncio.timeout(WAIT_S):
        while True:
            samples = await scrape(http, base)
            if ready(samples):
                return samples
            await asyncio.sleep(0.2)


async def healthy(
    http: httpx.AsyncClient, base: str, proc: subprocess.Popen[str]
) -> httpx.Response:
    async with asyncio.timeout(WAIT_S):
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                answer = await http.get(f"{base}/healthz")
            except httpx.TransportError:
                await asyncio.sleep(0.2)
                continue
            if answer.status_code == 200:
                return answer
            await asyncio.sleep(0.2)


@every_platform
async def test_worker_serves_metrics_while_it_migrates_and_delivers(
    driver: HostDriver,
    runtime: Runtime,
    client: LifecycleClient,
    receiver: HttpReceiver,
    worker_process: Callable[..., subprocess.Popen[str]],
) -> None:
    team = await driver.team()
    await driver.member(team)
    source, target = await driver.model("metrics-a"), await driver.model("metrics-b")
    labels = await driver.live_reference(team, source)
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE models SET deprecation_date = :d WHERE id = :m"),
            {"d": date.today() + timedelta(days=3), "m": source},
        )

    port = free_port()
    proc = worker_process(
        "--http",
        str(port),
        LIFECYCLE_WEBHOOK_URL=receiver.url("/hook"),
        LIFECYCLE_WEBHOOK_SECRET=SECRET,
        LIFECYCLE_SLACK_WEBHOOK_URL=receiver.url("/slack"),
    )
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(timeout=10) as http:
        probe = await healthy(http, base, proc)
        assert set(probe.json()["checks"]) == {"redis", "worker", "postgres", "schema"}
        assert (await http.get(f"{base}/nothing-here")).status_code == 404

        before = await scrape(http, base)
        assert value(before, "lifecycle_database_up") == 1
        retiring = value(
            before,
            "lifecycle_model_retirement_days",
            model_id=str(source),
            model="openai:metrics-a",
        )
        assert retiring == 3
        assert value(before, "lifecycle_next_retirement_days") == 3
        assert value(before, "lifecycle_models", state="retiring") == 1
        assert value(before, "lifecycle_jobs_total", job="migrate_model", outcome="succeeded") == 0

        handle = await client.migrate_model(
            str(source), str(target), requested_by="metrics", request_key=f"m-{uuid.uuid4()}"
        )
        result = await client.result(handle.job_id, timeout_s=WAIT_S)
        assert result["status"] == "succeeded"

        after = await until(
            http,
            base,
            lambda s: (
                value(s, "lifecycle_deliveries_total", channel="webhook", status="delivered") == 1
                and value(s, "lifecycle_deliveries_total", channel="slack", status="failed") == 1
            ),
        )
    assert value(after, "lifecycle_jobs_total", job="migrate_model", outcome="succeeded") == 1
    assert value(after, "lifecycle_jobs_total", job="fanout_event", outcome="succeeded") == 1
    assert value(after, "lifecycle_job_duration_seconds_count", job="migrate_model") == 1
    moved = {
        dict(labels_)["reference"]: n
        for (name, labels_), n in after.items()
        if name == "lifecycle_rows_moved_total" and n
    }
    assert moved == tally(labels)
    assert all(
        value(after, "lifecycle_batch_duration_seconds_count", reference=label)
        for label in tally(labels)
    )
    assert value(after, "lifecycle_models", state="migrated") == 1
    assert value(after, "lifecycle_models", state="retiring") == 0
    # The model is migrated: nothing live uses it any more, so no retirement is near.
    assert value(after, "lifecycle_next_retirement_days") is None
    assert value(after, "lifecycle_delivery_rows", channel="webhook", status="delivered") == 1
    assert value(after, "lifecycle_delivery_rows", channel="slack", status="failed") == 1
    assert value(after, "lifecycle_outbox_backlog", channel="webhook") == 0
    assert sum(receiver.accepted_counts().values()) == 1
