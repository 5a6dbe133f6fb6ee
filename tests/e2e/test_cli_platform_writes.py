"""`lifecycle platform check` names what the jobs could not write, with its fix, through the
CLI in a subprocess; `catalog sync --dry-run` refuses what the real run would refuse."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from tests.e2e.conftest import run_cli
from tests.platforms import JOINED_PROVIDER
from worker.health import asyncpg_dsn
from worker.settings import Settings

HostDatabase = Callable[..., Awaitable[str]]
REFERENCE_MAPPING = Path(__file__).resolve().parents[2] / "db" / "platform" / "reference.toml"


async def _execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _failed_check_on_reference(settings: Settings, ddl: str) -> str:
    """``platform check``'s output on the reference platform after ``ddl`` (it fails)."""
    await _execute(settings.database_url.get_secret_value(), ddl)
    done = run_cli(settings, "platform", "check")
    assert done.returncode == 1, done.stdout + done.stderr
    return done.stdout


async def test_a_link_column_the_migration_cannot_fill_fails_the_check_until_mapped(
    e2e_settings: Settings, tmp_path: Path
) -> None:
    stdout = await _failed_check_on_reference(
        e2e_settings, "ALTER TABLE space_models ADD COLUMN created_at timestamptz NOT NULL"
    )
    assert (
        "error   reference spaces: space_models.created_at is NOT NULL without a default: a "
        "migration inserts (space_id, llm_model_id) rows here and every one would fail\n"
        "          fix: add to this reference: insert = { created_at = … } (a constant, or "
        '"now()" for the time of the insert), or give the column a default on the host\n'
    ) in stdout
    assert "ok      reference spaces" not in stdout

    mapping = tmp_path / "platform.toml"
    mapping.write_text(
        REFERENCE_MAPPING.read_text().replace(
            'key = "space_id"\n', 'key = "space_id"\ninsert = { created_at = "now()" }\n'
        )
    )
    done = run_cli(e2e_settings, "platform", "check", LIFECYCLE_PLATFORM_FILE=str(mapping))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok      reference spaces: space_models.llm_model_id (live)" in done.stdout


async def test_a_joined_value_naming_several_rows_fails_the_check_and_the_dry_run(
    e2e_settings: Settings, host_database: HostDatabase, tmp_path: Path
) -> None:
    url = await host_database(JOINED_PROVIDER, seed=False)
    env = {"LIFECYCLE_DATABASE_URL": url, "LIFECYCLE_PLATFORM_FILE": str(JOINED_PROVIDER.mapping)}
    up = run_cli(e2e_settings, "db", "upgrade", **env)
    assert up.returncode == 0, up.stdout + up.stderr
    # Later, a second tenant gets its own provider rows (Eneo keeps one per tenant).
    await _execute(
        url,
        "ALTER TABLE ai_providers DROP CONSTRAINT ai_providers_kind_key;"
        "ALTER TABLE ai_providers ADD COLUMN org_id integer REFERENCES orgs (id);"
        "UPDATE ai_providers SET org_id = 1;"
        "INSERT INTO orgs (title) VALUES ('Globex');"
        "INSERT INTO ai_providers (kind, org_id) VALUES ('openai', 2);",
    )

    done = run_cli(e2e_settings, "platform", "check", **env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "error   models.provider: ai_providers.kind names more than one row for a value "
        "('openai': 2 rows): a model inserted with it cannot choose its provider_id "
        "(catalog sync would fail)\n"
        "          fix: give [models] provider a filter that leaves one row per value: "
        'provider = { via = "provider_id", table = "ai_providers", column = "kind", '
        "filter = { column = … } }\n"
    ) in done.stdout

    catalog = tmp_path / "catalog.toml"
    catalog.write_text('[[models]]\nprovider = "openai"\nname = "gpt-x"\ntoken_limit = 8000\n')
    dry = run_cli(e2e_settings, "catalog", "sync", str(catalog), "--dry-run", **env)
    assert dry.returncode == 2, dry.stdout + dry.stderr
    assert "created" not in dry.stdout
    assert (
        "  - provider 'openai': 2 rows of ai_providers have kind = 'openai', and a model "
        "names one: give [models] provider a filter that leaves one"
    ) in dry.stderr

    mapping = tmp_path / "platform.toml"
    mapping.write_text(
        JOINED_PROVIDER.mapping.read_text().replace(
            'column = "kind" }', 'column = "kind", filter = { org_id = 1 } }'
        )
    )
    env["LIFECYCLE_PLATFORM_FILE"] = str(mapping)
    done = run_cli(e2e_settings, "platform", "check", **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert run_cli(e2e_settings, "db", "upgrade", **env).returncode == 0
    assert (
        "ok      models: ai_models (id integer); provider = ai_providers.kind joined on "
        "ai_models.provider_id → ai_providers.id where org_id = 1; lifecycle state kept by "
        "the worker: deprecated, deprecation_date, deprecation_source, replacement, "
        "migrated_to, deleted_at\n"
    ) in done.stdout
    dry = run_cli(e2e_settings, "catalog", "sync", str(catalog), "--dry-run", **env)
    assert dry.returncode == 0, dry.stdout + dry.stderr


async def test_a_team_reached_without_a_foreign_key_fails_the_check(
    e2e_settings: Settings,
) -> None:
    stdout = await _failed_check_on_reference(
        e2e_settings, "ALTER TABLE space_models DROP CONSTRAINT fk_space_models_space_id_spaces"
    )
    assert "error   reference spaces: no foreign key space_models.space_id → spaces.id\n" in stdout
    assert "reference spaces" not in stdout.replace("error   reference spaces", "")
    assert "FAILED: 1 error(s), 0 warning(s)" in stdout
