"""`lifecycle undo KEY --dry-run` and `lifecycle undo KEY` through the CLI in a subprocess
and a real worker process, on every platform."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable

from jobs.runtime import Runtime
from tests.e2e.conftest import run_cli
from tests.platforms import every_platform
from tests.platforms.drivers import HostDriver
from tests.platforms.lifecycle import model_state, tally
from worker.settings import Settings

pytestmark = every_platform


async def test_cli_undo_dry_run_then_real_undo_with_a_worker(
    e2e_settings: Settings,
    driver: HostDriver,
    runtime: Runtime,
    worker_process: Callable[..., subprocess.Popen[str]],
) -> None:
    team = await driver.team()
    await driver.member(team)
    a, b = await driver.model("cli-undo-a"), await driver.model("cli-undo-b")
    labels: list[str] = []
    for kind in driver.kinds:
        labels += await driver.live_reference(team, a, kind)
    moved = tally(labels)
    before = await driver.host_checksum()
    key = f"cli-undo-{uuid.uuid4()}"
    worker_process()
    migrated = run_cli(
        e2e_settings, "migrate", str(a), str(b), "--request-key", key, "--confirm-warnings"
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    after_migration = await driver.host_checksum()

    dry = run_cli(e2e_settings, "undo", key, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    report = json.loads(dry.stdout)
    assert (report["dry_run"], report["restored"], report["changed_since"]) == (True, moved, {})
    assert await driver.host_checksum() == after_migration, "a dry run changes nothing"
    text = run_cli(e2e_settings, "undo", key, "--dry-run")
    assert text.returncode == 0 and "dry run, nothing changed: undo of request" in text.stdout

    undone = run_cli(e2e_settings, "undo", key)
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert f"undone: request {key}" in undone.stdout
    assert "is live again" in undone.stdout
    kept = {t: s for t, s in (await driver.host_checksum()).items() if t != driver.model_table}
    assert kept == {t: s for t, s in before.items() if t != driver.model_table}
    assert (await model_state(runtime, a)).migrated_to_model_id is None

    again = run_cli(e2e_settings, "undo", key, "--json")
    assert again.returncode == 0, again.stderr
    answer = json.loads(again.stdout)
    assert (answer["status"], answer["restored"]) == ("undone", moved)


async def test_cli_undo_of_an_unknown_key_exits_1_naming_it(e2e_settings: Settings) -> None:
    key = f"cli-undo-{uuid.uuid4()}"
    missing = run_cli(e2e_settings, "undo", key, "--dry-run")
    assert missing.returncode == 1
    assert "request_not_found" in missing.stderr and key in missing.stderr
