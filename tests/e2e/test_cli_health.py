"""``lifecycle health``: which services it checked, from a second shell in the checkout, and
one deadline for all checks even when a socket accepts and never answers."""

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import LIFECYCLE, cli_env
from worker.health import check_health
from worker.services_env import render_env_file
from worker.settings import DEFAULT_DATABASE_URL, Settings, load_settings, redact_url


@pytest.fixture
def hung_port() -> Iterator[int]:
    """A port whose socket accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def _health(
    settings: Settings,
    *args: str,
    cwd: Path | None = None,
    drop: tuple[str, ...] = (),
    **extra: str,
) -> subprocess.CompletedProcess[str]:
    """``lifecycle health --json`` without the variables in ``drop``, plus ``extra``."""
    env = cli_env(settings)
    for name in drop:
        env.pop(name)
    env.update(extra)
    return subprocess.run(
        [LIFECYCLE, "health", "--json", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_hung_redis_is_reported_down_while_postgres_is_checked(
    e2e_settings: Settings, hung_port: int
) -> None:
    done = _health(
        e2e_settings, "--timeout", "1", LIFECYCLE_REDIS_URL=f"redis://127.0.0.1:{hung_port}/0"
    )
    assert done.returncode == 1, done.stderr
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert checks["redis"] == {
        "name": "redis",
        "ok": False,
        "detail": "no answer within 1s",
        "data": {},
    }
    assert checks["worker"]["detail"] == "not checked: redis unreachable"
    assert checks["postgres"]["ok"] and checks["schema"]["ok"]


async def test_every_check_shares_one_deadline(e2e_settings: Settings, hung_port: int) -> None:
    hung = load_settings(
        database_url=f"postgresql://postgres@127.0.0.1:{hung_port}/x",
        redis_url=f"redis://127.0.0.1:{hung_port}/0",
        queue_name=e2e_settings.queue_name,
    )
    deadline = 0.5
    started = time.monotonic()
    report = await check_health(hung, deadline_s=deadline)
    elapsed = time.monotonic() - started
    assert {c.name: c.detail for c in report.checks if c.name in ("redis", "postgres")} == {
        "redis": "no answer within 0.5s",
        "postgres": "no answer within 0.5s",
    }
    # Parallel under one deadline: far less than the two checks' deadlines one after another.
    assert elapsed < 2 * deadline


def test_health_says_what_it_checked_with_passwords_masked(e2e_settings: Settings) -> None:
    url = "postgresql://postgres:s3cret@127.0.0.1:1/x?password=s3cret"
    done = _health(e2e_settings, LIFECYCLE_DATABASE_URL=url)
    assert done.returncode == 1
    checked = json.loads(done.stdout)["checked"]
    assert checked["postgres"] == "postgresql+asyncpg://postgres:***@127.0.0.1:1/x?password=***"
    assert checked["redis"] == redact_url(e2e_settings.redis_url.get_secret_value())
    assert checked["queue"] == e2e_settings.queue_name
    assert "s3cret" not in done.stdout + done.stderr


def test_a_second_shell_in_the_checkout_reads_its_services_env(
    e2e_settings: Settings, tmp_path: Path
) -> None:
    checkout = tmp_path / "checkout"
    (checkout / ".data").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text('[project]\nname = "model-lifecycle-worker"\n')
    services = {
        "LIFECYCLE_DATABASE_URL": e2e_settings.database_url.get_secret_value(),
        "LIFECYCLE_REDIS_URL": e2e_settings.redis_url.get_secret_value(),
    }
    (checkout / ".data" / "services.env").write_text(render_env_file(services))
    unset = ("LIFECYCLE_DATABASE_URL", "LIFECYCLE_REDIS_URL")

    inside = _health(e2e_settings, cwd=checkout, drop=unset)
    report = json.loads(inside.stdout)
    assert report["checked"]["postgres"] == e2e_settings.database_url.get_secret_value()
    assert report["checked"]["settings"].endswith(".data/services.env (checkout)")
    failing = {c["name"] for c in report["checks"] if not c["ok"]}
    assert failing == {"worker"}, report

    elsewhere = _health(e2e_settings, cwd=tmp_path, drop=unset)
    assert json.loads(elsewhere.stdout)["checked"]["postgres"] == DEFAULT_DATABASE_URL

    explicit = _health(
        e2e_settings, cwd=checkout, drop=unset, LIFECYCLE_REDIS_URL="redis://127.0.0.1:1/0"
    )
    checked = json.loads(explicit.stdout)["checked"]
    assert checked["redis"] == "redis://127.0.0.1:1/0"
    assert checked["postgres"] == e2e_settings.database_url.get_secret_value()
