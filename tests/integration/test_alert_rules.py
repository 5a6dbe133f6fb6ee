"""The example alert rules name only metrics a worker exports."""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta
from pathlib import Path

import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from jobs.runtime import Runtime
from tests.platforms.drivers import HostDriver
from worker.metrics import WorkerMetrics
from worker.settings import Settings

RULES = Path(__file__).resolve().parents[2] / "examples" / "prometheus" / "lifecycle-alerts.yml"
METRIC = re.compile(r"\blifecycle_[a-z_]+\b")


def _rules() -> list[dict[str, object]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_rules_are_well_formed() -> None:
    rules = _rules()
    assert [r["alert"] for r in rules] == [
        "LifecycleModelRetiringInUse",
        "LifecycleDeliveriesFailing",
        "LifecycleOutboxBacklogGrowing",
        "LifecycleMetricsDatabaseDown",
    ]
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert METRIC.search(str(rule["expr"])), rule
        assert {"summary", "description"} <= set(rule["annotations"])  # type: ignore[arg-type]


async def test_every_metric_the_rules_name_is_exported(
    driver: HostDriver, runtime: Runtime, settings: Settings
) -> None:
    # A model with live references and a date: the retirement gauges have a sample.
    team = await driver.team()
    model = await driver.model("alerting")
    await driver.live_reference(team, model)
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE models SET deprecation_date = :d WHERE id = :m"),
            {"d": date.today() + timedelta(days=5), "m": model},
        )
    metrics = WorkerMetrics(settings)
    await metrics.start(runtime)
    try:
        # A scrape asks this loop for the database reads: it runs in a thread, as it does
        # in the worker's HTTP server.
        exposition = (await asyncio.to_thread(generate_latest, metrics.registry)).decode()
    finally:
        await metrics.stop()
    exported = {
        s.name for family in text_string_to_metric_families(exposition) for s in family.samples
    }
    assert "lifecycle_database_up" in exported
    named = {m for rule in _rules() for m in METRIC.findall(str(rule["expr"]))}
    assert named - exported == set()
