"""Managed services speak TLS: the CLI (with Alembic), the worker and the Python client
reach a PostgreSQL that accepts TLS connections only and a TLS-only Redis, each
certificate verified against a CA file named in the URL; a certificate from another CA
and a plain connection are refused. The servers are private, on spare ports, with a
throw-away CA."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import run_cli
from tests.tls_servers import Certificates, make_certificates, tls_postgres, tls_redis
from worker.client import LifecycleClient
from worker.settings import Settings, load_settings


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA that did not sign the servers' certificates."""
    return make_certificates(tmp_path_factory.mktemp("other"), "other").ca


@pytest.fixture(scope="module")
def pg_port(certs: Certificates) -> Iterator[int]:
    with tls_postgres(certs) as port:
        yield port


@pytest.fixture(scope="module")
def redis_port(certs: Certificates) -> Iterator[int]:
    with tls_redis(certs) as port:
        yield port


def database_url(port: int, ca: Path, *, mode: str = "verify-full") -> str:
    return f"postgresql://postgres@localhost:{port}/postgres?sslmode={mode}&sslrootcert={ca}"


def redis_url(port: int, ca: Path) -> str:
    return f"rediss://localhost:{port}/0?ssl_ca_certs={ca}&ssl_check_hostname=true"


def tls_settings(database: str, redis: str) -> Settings:
    return load_settings(
        {}, database_url=database, redis_url=redis, queue_name=f"tls-{uuid.uuid4().hex[:8]}"
    )


def health(settings: Settings) -> dict[str, bool]:
    done = run_cli(settings, "health", "--json")
    return {c["name"]: c["ok"] for c in json.loads(done.stdout)["checks"]}


async def test_cli_worker_and_client_reach_tls_only_postgres_and_redis(
    certs: Certificates, pg_port: int, redis_port: int
) -> None:
    settings = tls_settings(database_url(pg_port, certs.ca), redis_url(redis_port, certs.ca))

    upgraded = run_cli(settings, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    async with LifecycleClient(settings) as client:
        handle = await client.cleanup_retired_models(dry_run=True)
        worker = run_cli(settings, "worker", "--burst")
        assert worker.returncode == 0, worker.stderr
        report = await client.result(handle.job_id, timeout_s=30)
    assert report["dry_run"] is True and report["errors"] == []
    checks = health(settings)
    assert {k: checks[k] for k in ("redis", "postgres", "schema")} == {
        "redis": True,
        "postgres": True,
        "schema": True,
    }
    # asyncpg's own spelling, ssl=, is read as libpq's sslmode=.
    asyncpg_form = database_url(pg_port, certs.ca).replace("sslmode=", "ssl=")
    checked = run_cli(settings, "platform", "check", LIFECYCLE_DATABASE_URL=asyncpg_form)
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_another_ca_and_plain_connections_are_refused(
    certs: Certificates, other_ca: Path, pg_port: int, redis_port: int
) -> None:
    good_redis = redis_url(redis_port, certs.ca)

    wrong_ca = run_cli(tls_settings(database_url(pg_port, other_ca), good_redis), "db", "upgrade")
    assert wrong_ca.returncode == 1
    assert "certificate verify failed" in wrong_ca.stderr, wrong_ca.stderr

    plain = tls_settings(database_url(pg_port, certs.ca, mode="disable"), good_redis)
    refused = run_cli(plain, "db", "upgrade")
    assert refused.returncode == 1
    assert "no encryption" in refused.stderr, refused.stderr

    good_database = database_url(pg_port, certs.ca)
    assert health(tls_settings(good_database, redis_url(redis_port, other_ca)))["redis"] is False
    plain_redis = f"redis://localhost:{redis_port}/0"
    assert health(tls_settings(good_database, plain_redis))["redis"] is False
