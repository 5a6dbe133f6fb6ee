"""What an operator sees when something is mistyped or unreachable (CLI in a subprocess)."""

from __future__ import annotations

import socket
import uuid

from tests.e2e.conftest import run_cli
from tests.platforms import OPEN_CHAT_STUDIO
from tests.receivers import free_port
from worker.settings import Settings


def test_a_hint_follows_the_arguments_it_is_about(e2e_settings: Settings) -> None:
    done = run_cli(e2e_settings, "delete", "1", "--replacment", "2")
    assert done.returncode == 2
    assert done.stderr.rstrip().endswith(
        "unrecognized arguments: --replacment 2 (did you mean --replacement?)"
    )


def test_a_command_with_sub_commands_hints_its_own_options(e2e_settings: Settings) -> None:
    done = run_cli(e2e_settings, "notifications", "--failled")
    assert done.returncode == 2
    assert (
        "lifecycle notifications: error: unrecognized arguments: --failled "
        "(did you mean --failed?)" in done.stderr
    )


def test_a_misspelled_setting_gets_a_did_you_mean(e2e_settings: Settings) -> None:
    done = run_cli(e2e_settings, "health", LIFECYCLE_BATCH_SIZ="10")
    assert done.returncode == 2
    assert (
        "unknown setting(s): LIFECYCLE_BATCH_SIZ (did you mean LIFECYCLE_BATCH_SIZE?)"
        in done.stderr
    )


def test_an_unreachable_database_is_named_without_its_password(e2e_settings: Settings) -> None:
    port = free_port()
    url = f"postgresql://lifecycle:s3cret@127.0.0.1:{port}/somewhere"
    for command in (("models",), ("db", "upgrade"), ("worker",)):
        done = run_cli(e2e_settings, *command, LIFECYCLE_DATABASE_URL=url)
        assert done.returncode == 1, done.stderr
        assert (
            f"cannot reach PostgreSQL at postgresql+asyncpg://lifecycle:***@127.0.0.1:{port}/"
            "somewhere (LIFECYCLE_DATABASE_URL): connection refused" in done.stderr
        ), done.stderr
        assert "s3cret" not in done.stdout + done.stderr
        assert "Starting worker" not in done.stderr


def test_a_missing_database_is_named_plainly(e2e_settings: Settings) -> None:
    name = f"missing_{uuid.uuid4().hex[:8]}"
    url = e2e_settings.database_url.get_secret_value().rsplit("/", 1)[0] + f"/{name}"
    done = run_cli(e2e_settings, "models", LIFECYCLE_DATABASE_URL=url)
    assert done.returncode == 1
    assert f"the database '{name}' does not exist; create it (`createdb {name}`)" in done.stderr
    assert "sqlalche.me" not in done.stderr


def test_the_worker_refuses_before_it_announces_itself(e2e_settings: Settings) -> None:
    # The reference platform's database, with a mapping of another host: nothing matches.
    done = run_cli(e2e_settings, "worker", LIFECYCLE_PLATFORM_FILE=str(OPEN_CHAT_STUDIO.mapping))
    assert done.returncode == 1
    assert "lifecycle: error: the worker cannot start on platform open-chat-studio" in done.stderr
    assert "Starting worker" not in done.stderr
    assert "PlatformNotReady" not in done.stderr


def test_help_speaks_of_the_platform_mapping_not_the_reference_tables(
    e2e_settings: Settings,
) -> None:
    migrate = run_cli(e2e_settings, "migrate", "--help").stdout
    worker = run_cli(e2e_settings, "worker", "--help").stdout
    assert "assistants" not in migrate and "questions" not in migrate
    assert "live reference of the platform mapping" in " ".join(migrate.split())
    assert "reference registry" not in worker
    assert "does not match the platform mapping" in " ".join(worker.split())


def test_a_taken_metrics_port_is_refused_before_the_worker_starts(
    e2e_settings: Settings,
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        done = run_cli(e2e_settings, "worker", "--http", str(port))
    assert done.returncode == 1
    assert (
        f"lifecycle: error: cannot serve /metrics and /healthz on 127.0.0.1:{port} "
        "(--http / LIFECYCLE_HTTP_PORT, LIFECYCLE_HTTP_HOST): Address already in use" in done.stderr
    )
    assert "Starting worker" not in done.stderr
    assert "PostgreSQL" not in done.stderr
