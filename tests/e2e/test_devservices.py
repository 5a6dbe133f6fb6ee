"""Embedded services keep their address across restarts, so a second shell keeps working."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.platforms import ROOT
from tests.receivers import free_port
from worker.devservices import _alive, running_services, start_embedded_redis
from worker.services_env import render_env_file
from worker.settings import Settings, redact_url


def _stop(data_dir: Path) -> None:
    pid_file = data_dir / "redis" / "redis.pid"
    os.kill(int(pid_file.read_text()), signal.SIGTERM)
    while _alive(pid_file):
        time.sleep(0.05)


def test_embedded_redis_comes_back_on_the_port_it_had(tmp_path: Path) -> None:
    first = start_embedded_redis(tmp_path)
    _stop(tmp_path)
    again = start_embedded_redis(tmp_path)
    try:
        assert again == first
    finally:
        _stop(tmp_path)


def test_embedded_redis_moves_when_its_port_is_taken(tmp_path: Path) -> None:
    first = start_embedded_redis(tmp_path)
    _stop(tmp_path)
    port = int(first.rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen(1)
        moved = start_embedded_redis(tmp_path)
        try:
            assert moved != first
            assert (tmp_path / "redis" / "port").read_text() != str(port)
        finally:
            _stop(tmp_path)


def _env_without_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}


def test_make_env_keeps_the_services_a_running_make_run_uses(
    tmp_path: Path, e2e_settings: Settings
) -> None:
    # What `make run` wrote: services that answer, other than those `auto` would pick.
    env_file = tmp_path / "services.env"
    running = {
        "LIFECYCLE_DATABASE_URL": e2e_settings.database_url.get_secret_value(),
        "LIFECYCLE_REDIS_URL": e2e_settings.redis_url.get_secret_value(),
    }
    env_file.write_text(render_env_file(running))
    before = env_file.read_text()

    done = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "env", f"ENV_FILE={env_file}"],
        env=_env_without_settings(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == before
    assert env_file.read_text() == before
    assert f"keeping {env_file}: the services already running, which it names:" in done.stderr
    assert f"LIFECYCLE_DATABASE_URL={redact_url(running['LIFECYCLE_DATABASE_URL'])}" in done.stderr


def test_services_that_no_longer_answer_are_not_kept(tmp_path: Path) -> None:
    env_file = tmp_path / "services.env"
    env_file.write_text(
        render_env_file(
            {
                "LIFECYCLE_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/x",
                "LIFECYCLE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            }
        )
    )
    assert running_services(env_file, "auto", _env_without_settings()) is None
