"""Every job's result can be read back: a report that outgrows the cap is shortened, the
whole of it left in ``lifecycle_runs``; the arguments of a large job are not copied."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from jobs.registry import all_jobs
from jobs.runtime import Runtime
from jobs.spec import JobSpec
from worker.app import _job_function
from worker.job_results import LIST_KEEP, RESULT_MAX_BYTES, bounded_result, result_size
from worker.metrics import WorkerMetrics
from worker.serialization import MAX_JOB_BYTES, deserialize, serialize
from worker.settings import load_settings

RUN_ID = str(uuid.UUID(int=7))


def catalog_report(models: int) -> dict[str, Any]:
    created = [
        {"model": f"openai:bulk-{i:05}", "fields": {"token_limit": 8192, "vision": False}}
        for i in range(models)
    ]
    plan = {"created": created, "updated": [], "deleted": [], "unchanged": 0}
    return {"dry_run": False, "run_id": RUN_ID, "plan": plan, "counts": {"created": models}}


def cleanup_report(models: int) -> dict[str, Any]:
    removed = [{"model_id": i, "provider": "openai", "name": f"m-{i}"} for i in range(models)]
    return {"run_id": RUN_ID, "removed": removed, "skipped": [], "errors": [], "deferred": 0}


def test_a_small_result_is_left_as_it_is() -> None:
    report = catalog_report(3)
    assert bounded_result(report) is report


@pytest.mark.parametrize(
    ("report", "cut"),
    [
        (catalog_report(10_000), {"plan.created": 10_000}),
        (cleanup_report(100_000), {"removed": 100_000}),
        ({"run_id": RUN_ID, "nested": [[i] * 5_000 for i in range(30)]}, {"nested": 30}),
    ],
    ids=["catalog-10k", "cleanup-100k", "nested-lists"],
)
def test_a_large_report_is_shortened_and_names_what_was_cut(
    report: dict[str, Any], cut: dict[str, int]
) -> None:
    short = bounded_result(report)
    assert result_size(short) <= RESULT_MAX_BYTES
    assert short["run_id"] == RUN_ID and short["full_report"] == "lifecycle_runs"
    assert cut.items() <= short["truncated"].items()
    first = next(iter(cut)).split(".")
    kept: Any = short
    for key in first:
        kept = kept[key]
    assert len(kept) == LIST_KEEP


@pytest.mark.parametrize(
    "report",
    [
        {"status": "failed", "error": "x" * 2_000_000},
        {f"key-{i}": i for i in range(100_000)},
    ],
    ids=["one-huge-text", "many-keys"],
)
def test_a_result_with_nothing_to_cut_still_fits(report: dict[str, Any]) -> None:
    short = bounded_result(report)
    assert result_size(short) <= RESULT_MAX_BYTES and short["truncated"]


async def huge_report(runtime: Runtime, payload: Any) -> dict[str, Any]:
    return {**catalog_report(20_000), **cleanup_report(20_000)}


@pytest.mark.parametrize("spec", all_jobs(), ids=lambda s: s.name)
async def test_every_jobs_result_is_bounded_by_the_worker(
    spec: JobSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever a job returns goes through the worker's bound on its way to Redis."""
    monkeypatch.setattr("worker.app._parse_payload", lambda *args: None)
    settings = load_settings({})
    function = _job_function(
        dataclasses.replace(spec, run=huge_report, give_up=None), settings, WorkerMetrics(settings)
    )
    runtime = Runtime(settings=settings.job_config, engine=None, sessions=None)  # type: ignore[arg-type]

    result = await function.coroutine({"lifecycle_runtime": runtime, "job_try": 1})

    envelope = {"t": 1, "f": spec.name, "a": [{}], "k": {}, "et": 1, "s": True, "r": result}
    assert result_size(result) <= RESULT_MAX_BYTES
    assert deserialize(serialize(envelope))["r"]["truncated"]["removed"] == 20_000


def test_a_result_keeps_small_arguments_and_leaves_large_ones_out() -> None:
    small = {"t": 1, "f": "migrate_model", "a": [{"request_key": "k"}], "k": {}, "s": True}
    assert deserialize(serialize({**small, "r": {}}))["a"] == [{"request_key": "k"}]
    catalog = {"catalog": {"models": [{"name": f"bulk-{i:05}"} for i in range(40_000)]}}
    large = {**small, "f": "sync_catalog", "a": [catalog], "r": {"counts": {}}}
    assert len(serialize({k: v for k, v in large.items() if k != "r"})) > MAX_JOB_BYTES // 2
    stored = serialize(large)
    assert len(stored) < 1_000 and deserialize(stored)["a"] == []


def test_a_failed_jobs_error_is_bounded_and_keeps_its_type() -> None:
    errors = "; ".join(f"models: duplicate entry openai:bulk-{i:05}" for i in range(40_000))
    failed = {"t": 1, "f": "sync_catalog", "a": [], "k": {}, "s": False}
    stored = serialize({**failed, "r": ValueError(errors)})
    result = deserialize(stored)["r"]
    assert len(stored) < RESULT_MAX_BYTES and result["error"] == "ValueError"
    assert result["message"].startswith("models: duplicate entry openai:bulk-00000; ")
    assert result["message"].endswith(" more characters)")
    short = deserialize(serialize({**failed, "r": ValueError("boom")}))["r"]
    assert short == {"error": "ValueError", "message": "boom"}
