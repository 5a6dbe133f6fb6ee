"""The CLI in a subprocess: db upgrade, health with and without a worker, platform check."""

import json
import subprocess
import time
from collections.abc import Callable

from sqlalchemy import text

from jobs.runtime import Runtime
from tests.e2e.conftest import run_cli
from worker.settings import Settings


def test_db_upgrade_is_idempotent(e2e_settings: Settings) -> None:
    for _ in range(2):
        done = run_cli(e2e_settings, "db", "upgrade", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["upgraded"] is True


def test_health_fails_without_worker_and_passes_with_one(
    e2e_settings: Settings, worker_process: Callable[..., subprocess.Popen[str]]
) -> None:
    started = time.monotonic()
    down = run_cli(e2e_settings, "health", "--json")
    assert time.monotonic() - started < 10
    assert down.returncode == 1
    report = json.loads(down.stdout)
    assert report["healthy"] is False
    failing = {c["name"] for c in report["checks"] if not c["ok"]}
    assert failing == {"worker"}

    proc = worker_process()
    deadline = time.monotonic() + 30
    while True:
        up = run_cli(e2e_settings, "health", "--json")
        if up.returncode == 0 or time.monotonic() > deadline or proc.poll() is not None:
            break
        time.sleep(0.5)
    assert up.returncode == 0, up.stdout + (
        proc.stdout.read() if proc.poll() is not None and proc.stdout else ""
    )
    checks = {c["name"]: c for c in json.loads(up.stdout)["checks"]}
    assert "j_complete" in checks["worker"]["data"]
    assert checks["queue"]["ok"] is True
    # The queue is this test's own, but the worker's crons enqueue into it when a minute
    # boundary passes; a running worker drains it, which the depth must then show.
    deadline = time.monotonic() + 30
    while True:
        report = json.loads(run_cli(e2e_settings, "health", "--json").stdout)
        depth = next(c for c in report["checks"] if c["name"] == "queue")["data"]["depth"]
        if depth == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert depth == 0


def test_health_names_an_unreachable_service_quickly(e2e_settings: Settings) -> None:
    started = time.monotonic()
    done = run_cli(e2e_settings, "health", "--json", LIFECYCLE_REDIS_URL="redis://127.0.0.1:1/0")
    elapsed = time.monotonic() - started
    assert done.returncode == 1
    report = json.loads(done.stdout)
    redis = next(c for c in report["checks"] if c["name"] == "redis")
    assert not redis["ok"] and "Error" in redis["detail"]
    # Process start-up dominates; the checks themselves are bounded at 1.5 s.
    assert elapsed < 15


async def test_worker_refuses_to_start_on_platform_mismatch(
    e2e_settings: Settings, runtime: Runtime
) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE services DROP COLUMN llm_model_id"))
    done = run_cli(e2e_settings, "worker", "--burst")
    assert done.returncode == 1
    assert "services: column services.llm_model_id does not exist" in done.stderr
