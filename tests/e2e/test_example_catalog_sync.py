"""The Open Chat Studio example catalog syncs onto an Open Chat Studio-shaped database
through the CLI and a real worker, and a second sync changes nothing."""

import json
import subprocess
from collections.abc import Callable

import pytest
from sqlalchemy import text

from jobs.runtime import Runtime
from tests.e2e.conftest import run_cli
from tests.platforms import OPEN_CHAT_STUDIO
from worker.settings import Settings

CATALOG = str(OPEN_CHAT_STUDIO.mapping.with_name("models.toml"))


@pytest.mark.parametrize("platform_name", [OPEN_CHAT_STUDIO.name])
async def test_the_example_catalog_syncs_onto_open_chat_studio(
    e2e_settings: Settings,
    runtime: Runtime,
    worker_process: Callable[..., subprocess.Popen[str]],
) -> None:
    worker_process()
    done = run_cli(e2e_settings, "catalog", "sync", CATALOG, "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)["counts"]
    # gpt-4 is already flagged deprecated in the seed: the sync only gives it its replacement.
    assert (counts["created"], counts["updated"], counts["unchanged"]) == (2, 1, 1)
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT type, name, max_token_limit FROM service_providers_llmprovidermodel "
                "WHERE team_id IS NULL ORDER BY type, name"
            )
        )
        assert [tuple(r) for r in rows] == [
            ("anthropic", "claude-3-5-sonnet-latest", 200000),
            ("openai", "gpt-4", 8192),
            ("openai", "gpt-4o", 128000),
            ("openai", "gpt-4o-mini", 128000),
        ]
    again = run_cli(e2e_settings, "catalog", "sync", CATALOG, "--json", timeout=120)
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)["counts"]
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, 4)
