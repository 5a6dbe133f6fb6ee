"""``lifecycle catalog …`` and ``lifecycle enrich`` in a subprocess, with a real worker."""

import json
import re
import subprocess
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from arq.constants import result_key_prefix
from arq.worker import Worker
from sqlalchemy import insert, select

from db.models import AuditEvent, LifecycleRun, LlmModel
from jobs.runtime import Runtime
from tests.e2e.conftest import run_cli
from tests.factories import Factory
from worker.client import JobFailed, LifecycleClient
from worker.job_results import RESULT_MAX_BYTES, result_size
from worker.serialization import MAX_JOB_BYTES
from worker.settings import Settings

CATALOG = """
[[models]]
provider = "openai"
name = "gpt-4o"
token_limit = 128000
vision = true
tools = true

[[models]]
provider = "openai"
name = "gpt-4"
token_limit = 8192
deprecated = true
replacement = "gpt-4o"
"""


async def _names(runtime: Runtime) -> set[str]:
    async with runtime.sessions() as session:
        return set((await session.scalars(select(LlmModel.name))).all())


async def test_bad_catalog_exits_2_listing_every_error(
    e2e_settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[[models]\nprovider = ")
    done = run_cli(e2e_settings, "catalog", "sync", str(broken))
    assert done.returncode == 2, done.stderr
    assert "not valid TOML" in done.stderr

    invalid = tmp_path / "invalid.toml"
    invalid.write_text(
        CATALOG
        + '\n[[models]]\nprovider = "openai"\nname = "gpt-4o"\ntoken_limit = 1\n'
        + '\n[[models]]\nprovider = "bad provider"\nname = "x"\ntoken_limit = 1\n'
    )
    done = run_cli(e2e_settings, "catalog", "sync", str(invalid), "--json")
    assert done.returncode == 2, done.stderr
    assert "models: duplicate entry openai:gpt-4o" in done.stderr
    assert "unknown provider syntax 'bad provider'" in done.stderr
    assert json.loads(done.stdout)["ok"] is False
    assert await _names(runtime) == set()

    missing = run_cli(e2e_settings, "catalog", "sync", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "cannot read catalog" in missing.stderr


async def test_dry_run_prints_the_plan_without_a_worker(
    e2e_settings: Settings, runtime: Runtime, factory: Factory, tmp_path: Path
) -> None:
    await factory.model("gpt-4", token_limit=4096)
    await factory.model("stray")
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG)

    no_redis = {"LIFECYCLE_REDIS_URL": "redis://127.0.0.1:1/0"}  # a dry run needs none
    done = run_cli(e2e_settings, "catalog", "sync", str(path), "--dry-run", **no_redis)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^create\s+openai:gpt-4o\s+display_name=gpt-4o", done.stdout, re.M)
    assert re.search(r"^update\s+openai:gpt-4\s+token_limit: 4096 → 8192;", done.stdout, re.M)
    assert re.search(r"^unmanaged\s+openai:stray\s", done.stdout, re.M)
    assert "dry run, nothing changed: 1 created, 1 updated, 1 deprecated" in done.stdout

    as_json = json.loads(
        run_cli(e2e_settings, "catalog", "sync", str(path), "--dry-run", "--json").stdout
    )
    assert [c["model"] for c in as_json["plan"]["created"]] == ["openai:gpt-4o"]
    assert await _names(runtime) == {"gpt-4", "stray"}


async def test_sync_and_enrich_through_a_worker(
    e2e_settings: Settings,
    runtime: Runtime,
    factory: Factory,
    tmp_path: Path,
    worker_process: Callable[..., subprocess.Popen[str]],
) -> None:
    await factory.model("gpt-4", "azure")
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG)
    worker_process()

    done = run_cli(e2e_settings, "catalog", "sync", str(path), "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["counts"]["created"] == 2 and result["job_id"].startswith(
        f"{e2e_settings.queue_name}:sync_catalog:"
    )
    again = run_cli(e2e_settings, "catalog", "sync", str(path), timeout=120)
    assert again.returncode == 0, again.stderr
    assert "applied: 0 created, 0 updated, 0 deprecated" in again.stdout

    enrich = run_cli(e2e_settings, "enrich", timeout=120)
    assert enrich.returncode == 0, enrich.stderr
    assert "date set" in enrich.stdout and "azure:gpt-4" in enrich.stdout
    async with runtime.sessions() as session:
        runs = (
            await session.scalars(select(LifecycleRun.job).order_by(LifecycleRun.started_at))
        ).all()
        azure = await session.scalar(select(LlmModel).where(LlmModel.provider == "azure"))
    assert list(runs) == ["sync_catalog", "sync_catalog", "enrich_deprecations"]
    assert azure is not None and azure.deprecation_date is not None


async def test_enrich_dry_run_falls_back_to_the_bundled_map(
    e2e_settings: Settings, factory: Factory, tmp_path: Path
) -> None:
    await factory.model("gpt-4")
    tiny = tmp_path / "tiny.json"
    tiny.write_text('{"gpt-4": {"litellm_provider": "openai", "deprecation_date": "2020-01-01"}}')

    done = run_cli(
        e2e_settings,
        "enrich",
        "--dry-run",
        "--json",
        LIFECYCLE_COST_MAP_SOURCE=str(tiny),
        LIFECYCLE_REDIS_URL="redis://127.0.0.1:1/0",
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert "fewer than half of the bundled" in report["source"]["warning"]
    assert report["source"]["entries"] > 1000
    assert report["matched"] == 1


async def test_prune_check_lists_entries_safe_to_remove(
    e2e_settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(
            insert(AuditEvent).values(
                action="model.deleted",
                actor="test",
                details={"provider": "anthropic", "name": "claude-2.0", "team_id": None},
                created_at=datetime.now(UTC) - timedelta(days=45),
            )
        )
    path = tmp_path / "catalog.toml"
    path.write_text(
        '[[deleted]]\nprovider = "anthropic"\nname = "claude-2.0"\n'
        '\n[[deleted]]\nprovider = "anthropic"\nname = "claude-2.1"\n'
    )

    done = run_cli(e2e_settings, "catalog", "prune-check", str(path))
    assert done.returncode == 0, done.stderr
    day = (datetime.now(UTC) - timedelta(days=45)).date().isoformat()
    assert re.search(rf"^anthropic:claude-2.0\s+safe to remove\s+deleted {day}$", done.stdout, re.M)
    assert re.search(r"^anthropic:claude-2.1\s+keep\s+no deletion recorded yet$", done.stdout, re.M)
    as_json = json.loads(
        run_cli(e2e_settings, "catalog", "prune-check", str(path), "--json").stdout
    )
    assert [s["model"] for s in as_json["safe"]] == ["anthropic:claude-2.0"]


async def test_raw_enqueue_of_a_bad_catalog_fails_once_listing_every_error(
    client: LifecycleClient, burst_worker: Callable[..., Worker], runtime: Runtime
) -> None:
    catalog = {
        "models": [
            {"provider": "openai", "name": "a", "token_limit": 1},
            {"provider": "openai", "name": "a", "token_limit": 1},
            {"provider": "openai", "name": "b", "token_limit": 1, "replacement": "ghost"},
        ]
    }
    handle = await client.sync_catalog(catalog, key=f"bad-{uuid.uuid4()}")
    worker = burst_worker()
    await worker.main()
    assert (worker.jobs_failed, worker.jobs_retried, worker.jobs_complete) == (1, 0, 0)
    with pytest.raises(JobFailed) as info:
        await client.result(handle.job_id, timeout_s=5)
    assert info.value.error["error"] == "InvalidPayload"
    assert "duplicate entry openai:a" in info.value.error["message"]
    assert "unknown replacement openai:ghost" in info.value.error["message"]
    assert await _names(runtime) == set()
    await worker.close()


async def test_sync_waits_for_its_deletions_and_a_refused_one_exits_1(
    e2e_settings: Settings,
    factory: Factory,
    tmp_path: Path,
    worker_process: Callable[..., subprocess.Popen[str]],
) -> None:
    team = await factory.team()
    old = await factory.model("old-model")
    await factory.assistant(team, old)  # cannot be cleared: a replacement is required
    path = tmp_path / "catalog.toml"
    entry = '[[deleted]]\nprovider = "openai"\nname = "old-model"\n'
    models = '[[models]]\nprovider = "openai"\nname = "new-model"\ntoken_limit = 128000\n'
    path.write_text(models + entry)
    worker_process()

    refused = run_cli(e2e_settings, "catalog", "sync", str(path), timeout=120)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "openai:old-model" in refused.stdout and "rejected" in refused.stdout
    assert "replacement_required" in refused.stderr

    path.write_text(models + entry + 'replacement = "new-model"\n')
    done = run_cli(e2e_settings, "catalog", "sync", str(path), "--json", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    [deletion] = json.loads(done.stdout)["deletions"]
    assert (deletion["model"], deletion["status"]) == ("openai:old-model", "succeeded")
    assert (await factory.get_model(old)).deleted_at is not None


async def test_a_catalog_of_ten_thousand_models_through_the_worker_is_read_back(
    e2e_settings: Settings,
    factory: Factory,
    worker_process: Callable[..., subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    """The sync's report outgrows the 1 MB read cap; its result stays small and the CLI
    prints the whole report, read from the run in ``lifecycle_runs``."""
    models = 10_000
    path = tmp_path / "catalog.toml"
    path.write_text(
        "".join(
            f'[[models]]\nprovider = "openai"\nname = "bulk-{i:05}"\ntoken_limit = 8192\n'
            for i in range(models)
        )
    )
    worker_process()

    done = run_cli(e2e_settings, "catalog", "sync", str(path), "--json", timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["counts"]["created"] == models
    assert len(result["plan"]["created"]) == models  # the whole report, not a cut
    assert "full_report" not in result and "truncated" not in result["plan"]
    assert await factory.count(LlmModel.__table__, LlmModel.name.like("bulk-%")) == models
    async with LifecycleClient(e2e_settings) as client:
        stored = await client.redis.get(result_key_prefix + result["job_id"])
    assert stored is not None and len(stored) < MAX_JOB_BYTES
    kept = json.loads(stored)["r"]
    assert result_size(kept) <= RESULT_MAX_BYTES
    assert (kept["full_report"], kept["truncated"]["plan.created"]) == ("lifecycle_runs", models)

    again = run_cli(e2e_settings, "catalog", "sync", str(path), timeout=600)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1].endswith(f"0 unmanaged, {models} unchanged")
