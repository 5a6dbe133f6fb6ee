"""A command waiting for its job: no worker is said out loud, and a migration on a terminal
shows rows per second and time left. The CLI runs in a subprocess."""

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import termios
from collections.abc import Callable

from redis.asyncio import Redis
from sqlalchemy import text

from jobs.runtime import Runtime
from tests.e2e.conftest import LIFECYCLE, cli_env, run_cli
from tests.factories import Factory
from worker.settings import Settings

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


async def test_no_worker_is_reported_and_the_timeout_says_not_started(
    e2e_settings: Settings,
) -> None:
    done = run_cli(e2e_settings, "cleanup", "--timeout", "4")
    assert done.returncode == 1
    notice, error = done.stderr.strip().splitlines()
    assert notice.startswith(
        f"lifecycle: no live worker heartbeat on queue {e2e_settings.queue_name}"
    )
    assert "is queued and will run when a worker starts" in notice
    assert "queued, not started within 4s" in error and "keeps running" not in error
    job_id = notice.split("job ", 1)[1].split(" ", 1)[0]
    redis = Redis.from_url(e2e_settings.redis_url.get_secret_value())
    try:
        assert await redis.zscore(e2e_settings.queue_name, job_id) is not None
    finally:
        await redis.aclose()


def test_the_command_keeps_waiting_and_finishes_once_a_worker_starts(
    e2e_settings: Settings, worker_process: Callable[..., subprocess.Popen[str]]
) -> None:
    waiting = subprocess.Popen(
        [LIFECYCLE, "cleanup", "--json"],
        env=cli_env(e2e_settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert waiting.stderr is not None
        notice = waiting.stderr.readline()
        assert "no live worker heartbeat" in notice and waiting.poll() is None
        worker_process()
        out, err = waiting.communicate(timeout=120)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, err
    assert "a worker took job" in err
    assert json.loads(out)["removed"] == []


def run_on_terminal(settings: Settings, *args: str, **extra: str) -> tuple[int, str, str]:
    """Run ``lifecycle ARGS`` with stderr on a pseudo-terminal: (exit code, stdout, terminal)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 150, 0, 0))
    env = cli_env(settings, TERM="xterm-256color", **extra)
    for forced in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "COLUMNS"):
        env.pop(forced, None)
    proc = subprocess.Popen(
        [LIFECYCLE, *args], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the command closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    terminal = ANSI.sub("", b"".join(chunks).decode(errors="replace"))
    return proc.wait(timeout=60), out, terminal


async def test_migration_on_a_terminal_shows_rows_per_second_and_time_left(
    e2e_settings: Settings,
    factory: Factory,
    runtime: Runtime,
    worker_process: Callable[..., subprocess.Popen[str]],
) -> None:
    team = await factory.team()
    a = await factory.model("slow-a")
    await factory.model("slow-b")
    await factory.model("slow-c")
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO assistants (id, team_id, name, llm_model_id) "
                "SELECT gen_random_uuid(), :team, 'a' || n, :model FROM generate_series(1, 600) n"
            ),
            {"team": team, "model": a},
        )
    worker_process(LIFECYCLE_BATCH_SIZE="2")
    code, out, terminal = run_on_terminal(e2e_settings, "migrate", "openai:slow-a", "openai:slow-b")
    assert code == 0, out + terminal
    assert "status: succeeded" in out
    assert "600/600 rows" in terminal
    assert re.search(r"600/600 rows [0-9,]+ rows/s ETA 0:00:00", terminal), terminal

    # Captured (not a terminal): the same command's stderr holds no progress at all.
    again = run_cli(e2e_settings, "migrate", "openai:slow-b", "openai:slow-c", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["counts"] == {"assistants": 600}
    assert "\x1b" not in again.stderr and "rows/s" not in again.stderr
