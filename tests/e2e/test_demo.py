"""``lifecycle demo`` runs every lifecycle step through a real worker, and runs twice."""

import json
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import run_cli
from tests.platforms import OPEN_CHAT_STUDIO
from tests.services import drop_database
from worker.settings import Settings


@pytest.fixture
def demo_database(settings: Settings) -> Iterator[str]:
    import asyncio

    name = f"lifecycle_demo_t_{uuid.uuid4().hex[:8]}"
    yield name
    asyncio.run(drop_database(settings, name))


def test_demo_runs_every_step_and_twice(e2e_settings: Settings, demo_database: str) -> None:
    first = run_cli(e2e_settings, "demo", "--database", demo_database, timeout=300)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    out = first.stdout
    for step in range(1, 8):
        assert f"=== {step}." in out
    assert "status: rejected" in out and "team_scope_mismatch" in out
    assert "security_level_insufficient" in out
    assert "history_references" in out
    assert "demo finished" in out

    second = run_cli(e2e_settings, "demo", "--database", demo_database, "--json", timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    results = json.loads(second.stdout)
    assert results["migrate-confirmed"]["status"] == "succeeded"
    assert results["migrate-unconfirmed"]["status"] == "rejected"
    assert results["refused-scope"]["codes"][0] == "team_scope_mismatch"
    removed = [(r["provider"], r["name"]) for r in results["cleanup"]["removed"]]
    assert removed == [("openai", "text-davinci-003")]


def test_demo_rejects_a_bad_database_name(e2e_settings: Settings) -> None:
    done = run_cli(e2e_settings, "demo", "--database", "x; drop database postgres")
    assert done.returncode == 2
    assert "not a plain lower-case database name" in done.stderr


def test_demo_runs_the_reference_platform_whatever_mapping_is_set(
    e2e_settings: Settings, demo_database: str
) -> None:
    mapping = str(OPEN_CHAT_STUDIO.mapping)
    done = run_cli(
        e2e_settings,
        "demo",
        "--database",
        demo_database,
        timeout=300,
        LIFECYCLE_PLATFORM_FILE=mapping,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"LIFECYCLE_PLATFORM_FILE ({mapping}) is not used for it" in done.stdout
    assert f"demo database {demo_database} seeded:" in done.stdout
    assert "lifecycle_demo " not in done.stdout
    assert "demo finished" in done.stdout


def test_demo_into_a_mapped_database_is_refused(e2e_settings: Settings) -> None:
    mapping = str(OPEN_CHAT_STUDIO.mapping)
    done = run_cli(e2e_settings, "demo", "--into-current-database", LIFECYCLE_PLATFORM_FILE=mapping)
    assert done.returncode == 1
    assert (
        "lifecycle: error: the demo seeds the built-in reference platform; "
        f"LIFECYCLE_PLATFORM_FILE ({mapping}) maps another host's database" in done.stderr
    )
    assert "does not exist" not in done.stderr
