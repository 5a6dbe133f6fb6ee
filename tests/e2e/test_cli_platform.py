"""`lifecycle platform check` and a mapped `db upgrade` through the CLI in a subprocess."""

from __future__ import annotations

import json
import tomllib
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from tests.e2e.conftest import run_cli
from tests.platforms import OPEN_CHAT_STUDIO
from tests.services import as_role
from worker.health import asyncpg_dsn
from worker.settings import Settings

HostDatabase = Callable[..., Awaitable[str]]


def _write_mapping(path: Path, old: str, new: str) -> Path:
    text = OPEN_CHAT_STUDIO.mapping.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return path


async def test_reference_platform_check_is_clean(e2e_settings: Settings) -> None:
    done = run_cli(e2e_settings, "platform", "check")
    assert done.returncode == 0, done.stderr
    assert "platform reference (built-in reference platform), schema public" in done.stdout
    assert done.stdout.rstrip().endswith("clean: 0 error(s), 0 warning(s)")


async def test_open_chat_studio_check_is_clean_and_upgrade_builds_only_ours(
    e2e_settings: Settings, host_database: HostDatabase
) -> None:
    url = await host_database(OPEN_CHAT_STUDIO)
    env = {"LIFECYCLE_DATABASE_URL": url, "LIFECYCLE_PLATFORM_FILE": str(OPEN_CHAT_STUDIO.mapping)}

    done = run_cli(e2e_settings, "platform", "check", **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "clean: 0 error(s), 0 warning(s)" in done.stdout
    assert "keys: model bigint, team bigint, user bigint" in done.stdout
    report = json.loads(run_cli(e2e_settings, "platform", "check", "--json", **env).stdout)
    assert report["ok"] is True and report["rows"]["assistants"] == 3

    up = run_cli(e2e_settings, "db", "upgrade", "--json", **env)
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["reference_platform"] is False

    # The worker starts on the mapped host (its check is clean) and, in burst mode, stops
    # once the queue is empty.
    worker = run_cli(e2e_settings, "worker", "--burst", **env)
    assert worker.returncode == 0, worker.stderr

    # Models are named by the host's bigint ids; a worker moves every live reference.
    queued = run_cli(e2e_settings, "migrate", "1", "2", "--confirm-warnings", "--no-wait", **env)
    assert queued.returncode == 0, queued.stderr
    worker = run_cli(e2e_settings, "worker", "--burst", **env)
    assert worker.returncode == 0, worker.stderr
    history = run_cli(e2e_settings, "--json", "history", "1", **env)
    assert history.returncode == 0, history.stderr
    (request,) = json.loads(history.stdout)
    assert request["status"] == "succeeded"
    assert request["counts"] == {
        "assistants": 1,
        "evaluators": 1,
        "pipeline_nodes": 2,
        "transcript_analyses": 1,
        "transcript_translations": 1,
    }


async def test_broken_mapping_exits_1_naming_each_error(
    e2e_settings: Settings, host_database: HostDatabase, tmp_path: Path
) -> None:
    url = await host_database(OPEN_CHAT_STUDIO, seed=False)
    mapping = _write_mapping(
        tmp_path / "platform.toml",
        'table = "documents_collection"',
        'table = "documents_colection"',
    )
    env = {"LIFECYCLE_DATABASE_URL": url, "LIFECYCLE_PLATFORM_FILE": str(mapping)}
    done = run_cli(e2e_settings, "platform", "check", **env)
    assert done.returncode == 1
    assert (
        "error   reference collections: table public.documents_colection does not exist"
        in done.stdout
    )
    assert "FAILED: 1 error(s), 0 warning(s)" in done.stdout
    up = run_cli(e2e_settings, "db", "upgrade", **env)
    assert up.returncode == 1
    assert "documents_colection does not exist" in up.stderr


@pytest.mark.parametrize("command", [("platform", "check"), ("db", "upgrade")])
def test_invalid_mapping_file_exits_2_listing_every_error(
    e2e_settings: Settings, tmp_path: Path, command: tuple[str, ...]
) -> None:
    text = OPEN_CHAT_STUDIO.mapping.read_text()
    text = text.replace('label = "evaluators"', 'label = "evaluators"\ncolour = "blue"')
    text = text.replace('role = "live"', 'role = "alive"', 1)
    mapping = tmp_path / "platform.toml"
    mapping.write_text(text)
    tomllib.loads(text)  # still TOML: the errors are the mapping's
    done = run_cli(e2e_settings, *command, LIFECYCLE_PLATFORM_FILE=str(mapping))
    assert done.returncode == 2
    for expected in (
        'references["evaluators"].colour: unknown key',
        "references[\"pipeline_nodes\"].role: Input should be 'live' or 'history'",
    ):
        assert expected in done.stderr, done.stderr


def test_semantic_mapping_errors_are_listed_together(
    e2e_settings: Settings, tmp_path: Path
) -> None:
    text = OPEN_CHAT_STUDIO.mapping.read_text().replace("ANY(:team_ids)", "ANY(:teams)")
    text = text.replace('label = "collections"', 'label = "evaluators"')
    mapping = tmp_path / "platform.toml"
    mapping.write_text(text)
    done = run_cli(e2e_settings, "platform", "check", LIFECYCLE_PLATFORM_FILE=str(mapping))
    assert done.returncode == 2
    assert "references: label 'evaluators' is used more than once" in done.stderr
    assert "recipients.query: must take the teams as ':team_ids'" in done.stderr
    assert "recipients.query: unknown parameter(s) :teams" in done.stderr


async def test_grants_refuse_a_bad_role_and_a_database_without_the_workers_schema(
    e2e_settings: Settings, host_database: HostDatabase
) -> None:
    url = await host_database(OPEN_CHAT_STUDIO)
    env = {"LIFECYCLE_DATABASE_URL": url, "LIFECYCLE_PLATFORM_FILE": str(OPEN_CHAT_STUDIO.mapping)}

    bad = run_cli(e2e_settings, "platform", "grants", "--role", 'w"; DROP TABLE x; --', **env)
    assert bad.returncode == 2
    assert "invalid role name" in bad.stderr

    early = run_cli(e2e_settings, "platform", "grants", **env)
    assert early.returncode == 1
    assert early.stdout == ""
    assert "schema lifecycle does not exist: run `lifecycle db upgrade`" in early.stderr


async def test_documented_roles_adopt_open_chat_studio_and_migrate_under_least_privilege(
    e2e_settings: Settings, host_database: HostDatabase
) -> None:
    """docs/operations.md: the schema's owner runs `db upgrade` in a schema made for it
    (no CREATE on the database), an administrator applies `platform grants`, and the
    worker's role checks clean and moves a model's live references."""
    url = await host_database(OPEN_CHAT_STUDIO)
    tag = uuid.uuid4().hex[:8]
    owner, worker = f"lifecycle_o_{tag}", f"lifecycle_w_{tag}"
    admin = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        await admin.execute(
            f'CREATE ROLE "{owner}" LOGIN; CREATE ROLE "{worker}" LOGIN; '
            f'CREATE SCHEMA lifecycle AUTHORIZATION "{owner}"; '
            f'GRANT USAGE ON SCHEMA public TO "{owner}";'
        )
        mapping = {"LIFECYCLE_PLATFORM_FILE": str(OPEN_CHAT_STUDIO.mapping)}
        as_owner = {"LIFECYCLE_DATABASE_URL": as_role(url, owner), **mapping}
        as_worker = {"LIFECYCLE_DATABASE_URL": as_role(url, worker), **mapping}

        up = run_cli(e2e_settings, "db", "upgrade", **as_owner)
        assert up.returncode == 0, up.stderr
        grants = run_cli(
            e2e_settings,
            "platform",
            "grants",
            "--role",
            worker,
            LIFECYCLE_DATABASE_URL=url,
            **mapping,
        )
        assert grants.returncode == 0, grants.stderr
        await admin.execute(grants.stdout)

        check = run_cli(e2e_settings, "platform", "check", **as_worker)
        assert check.returncode == 0, check.stdout + check.stderr
        assert f"privileges: role {worker} holds all" in check.stdout
        queued = run_cli(
            e2e_settings, "migrate", "1", "2", "--confirm-warnings", "--no-wait", **as_worker
        )
        assert queued.returncode == 0, queued.stderr
        ran = run_cli(e2e_settings, "worker", "--burst", **as_worker)
        assert ran.returncode == 0, ran.stderr
        history = run_cli(e2e_settings, "--json", "history", "1", **as_worker)
        (request,) = json.loads(history.stdout)
        assert request["status"] == "succeeded" and request["counts"]["assistants"] == 1
    finally:
        await admin.execute(f'DROP OWNED BY "{worker}", "{owner}"')
        await admin.execute(f'DROP ROLE "{worker}"; DROP ROLE "{owner}"')
        await admin.close()
