"""Migration and deletion through the client, a real worker, and the CLI in a subprocess."""

import json
import subprocess
import uuid
from collections.abc import Awaitable, Callable

from arq.worker import Worker
from sqlalchemy import text

from jobs.runtime import Runtime
from tests.e2e.conftest import run_cli
from tests.factories import Factory
from tests.platforms import every_platform
from tests.platforms.drivers import PLAIN, REQUIRED, HostDriver
from tests.platforms.lifecycle import tally
from worker.client import LifecycleClient
from worker.settings import Settings


@every_platform
async def test_client_migration_runs_on_a_real_worker_and_fans_out(
    client: LifecycleClient,
    burst_worker: Callable[..., Worker],
    driver: HostDriver,
    runtime: Runtime,
) -> None:
    team = await driver.team()
    await driver.member(team)
    a, b = await driver.model("e2e-a"), await driver.model("e2e-b")
    # The most constrained reference the platform has (one that may not be cleared).
    labels = await driver.live_reference(team, a, REQUIRED if REQUIRED in driver.kinds else PLAIN)
    key = f"e2e-mig-{uuid.uuid4()}"
    handle = await client.migrate_model(str(a), str(b), requested_by="e2e", request_key=key)
    worker = burst_worker()
    await worker.main()
    await worker.run_check()
    result = await client.result(handle.job_id, timeout_s=5)
    assert result["status"] == "succeeded" and result["counts"] == tally(labels)
    assert await driver.live_counts(b) == tally(labels)
    async with runtime.engine.connect() as conn:
        notified = await conn.scalar(text("SELECT count(*) FROM notifications"))
        fanned = await conn.scalar(
            text("SELECT count(*) FROM lifecycle_events WHERE fanned_out_at IS NOT NULL")
        )
    assert (notified, fanned) == (1, 1)
    again = await client.migrate_model(str(a), str(b), requested_by="e2e", request_key=key)
    assert not again.created
    await worker.close()


async def test_cli_migrate_dry_run_then_real_run(
    e2e_settings: Settings,
    factory: Factory,
    worker_process: Callable[..., subprocess.Popen[str]],
) -> None:
    team = await factory.team()
    a = await factory.model("cli-a", token_limit=8000)
    await factory.model("cli-b", token_limit=4000)
    await factory.assistant(team, a)
    await factory.pipeline(team, [a, a])

    dry = run_cli(
        e2e_settings,
        "migrate",
        "openai:cli-a",
        "openai:cli-b",
        "--dry-run",
        "--json",
        LIFECYCLE_REDIS_URL="redis://127.0.0.1:1/0",
    )
    assert dry.returncode == 1, dry.stderr
    report = json.loads(dry.stdout)
    assert report["codes_by_kind"]["warnings"] == ["context_window_reduced"]
    assert report["plan"]["counts"] == {"assistants": 1, "pipelines": 1}

    worker_process()
    refused = run_cli(e2e_settings, "migrate", "openai:cli-a", "openai:cli-b", "--json")
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["status"] == "rejected"

    done = run_cli(
        e2e_settings, "migrate", "openai:cli-a", "openai:cli-b", "--confirm-warnings", "--json"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "succeeded"
    assert result["counts"] == report["plan"]["counts"]

    history = run_cli(e2e_settings, "history", "openai:cli-a", "--json")
    assert history.returncode == 0
    statuses = [r["status"] for r in json.loads(history.stdout)]
    assert statuses == ["succeeded", "rejected"]


async def test_cli_delete_without_replacement_refused_then_with_replacement(
    e2e_settings: Settings,
    factory: Factory,
    worker_process: Callable[..., subprocess.Popen[str]],
) -> None:
    team = await factory.team()
    a = await factory.model("del-a")
    await factory.model("del-b")
    await factory.assistant(team, a)
    worker_process()
    refused = run_cli(e2e_settings, "delete", "openai:del-a", "--json")
    assert refused.returncode == 1
    assert "replacement_required" in json.loads(refused.stdout)["codes"]
    done = run_cli(e2e_settings, "delete", "openai:del-a", "--replacement", "openai:del-b")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "status: succeeded" in done.stdout


def test_cli_bad_model_reference_is_a_usage_error(e2e_settings: Settings) -> None:
    done = run_cli(e2e_settings, "migrate", "gpt-4", "openai:gpt-4o", "--dry-run")
    assert done.returncode == 2
    assert "use the model's id (a number or a UUID" in done.stderr


def test_cli_no_wait_prints_the_request_key(e2e_settings: Settings) -> None:
    key = f"nowait-{uuid.uuid4()}"
    done = run_cli(
        e2e_settings, "delete", str(uuid.uuid4()), "--no-wait", "--request-key", key, "--json"
    )
    assert done.returncode == 0, done.stderr
    expected = f"{e2e_settings.queue_name}:delete_model:{key}"
    assert json.loads(done.stdout) == {"request_key": key, "job_id": expected, "queued": True}
    plain = run_cli(e2e_settings, "migrate", str(uuid.uuid4()), str(uuid.uuid4()), "--no-wait")
    assert plain.returncode == 0, plain.stderr
    [printed] = plain.stdout.splitlines()
    assert printed.startswith("migration-")
    assert "`lifecycle requests` shows its progress" in plain.stderr


async def test_history_of_a_hard_deleted_model_by_name_and_by_id(
    e2e_settings: Settings,
    factory: Factory,
    runtime: Runtime,
    make_runtime: Callable[..., Awaitable[Runtime]],
) -> None:
    from jobs.cleanup import CleanupPayload, cleanup_retired_models
    from jobs.request_admission import Request
    from jobs.request_execution import run_request

    team = await factory.team()
    a = await factory.model("hist-a")
    await factory.model("hist-b")
    await factory.assistant(team, a)
    key = f"hist-{uuid.uuid4()}"
    request = Request("migration", "openai:hist-a", "openai:hist-b", "e2e", key, True)
    assert (await run_request(runtime, request)).status == "succeeded"
    # With the undo window off, the cleanup takes the source at once.
    unwindowed = await make_runtime(undo_days=0)
    report = await cleanup_retired_models(unwindowed, CleanupPayload(dry_run=False))
    assert [r["name"] for r in report["removed"]] == ["hist-a"]

    for named in ("openai:hist-a", str(a)):
        done = run_cli(e2e_settings, "history", named, "--json")
        assert done.returncode == 0, done.stderr
        deleted, row = json.loads(done.stdout)
        assert (deleted["kind"], deleted["from"], deleted["from_model_id"]) == (
            "hard_deletion",
            "openai:hist-a",
            str(a),
        )
        assert (row["request_key"], row["from"], row["to"]) == (
            key,
            "openai:hist-a",
            "openai:hist-b",
        )
        assert row["from_model_id"] is None and row["counts"] == {"assistants": 1}
