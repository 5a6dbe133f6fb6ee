"""Health checks: Redis, PostgreSQL, schema revision, worker heartbeat, queue depth."""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg
from redis.asyncio import Redis

from db.migrate import head_revision, version_table_sql
from db.queries.requests import STUCK_REQUESTS_SQL
from worker.settings import Settings, redact_url

# One deadline shared by every check, well inside compose's 5 s healthcheck timeout.
DEADLINE_S = 1.5
_COUNTER = re.compile(r"(\w+)=(\d+)")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class HealthReport:
    checks: list[Check]
    checked: dict[str, str] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return all(c.ok for c in self.checks)

    def failing(self) -> list[str]:
        return [c.name for c in self.checks if not c.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "checked": self.checked,
            "checks": [asdict(c) for c in self.checks],
        }


def health_check_key(settings: Settings) -> str:
    """The key ARQ's worker refreshes every ``health_check_interval`` seconds."""
    return f"{settings.queue_name}:health-check"


def asyncpg_dsn(url: str) -> str:
    """A plain ``postgresql://`` DSN for asyncpg from a SQLAlchemy URL."""
    return re.sub(r"^postgresql\+asyncpg://", "postgresql://", url)


async def _redis_checks(settings: Settings, deadline_s: float) -> list[Check]:
    client = Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_connect_timeout=deadline_s,
        socket_timeout=deadline_s,
    )
    try:
        await client.ping()
        heartbeat = await client.get(health_check_key(settings))
        depth = await client.zcard(settings.queue_name)
    finally:
        await client.aclose()
    checks = [Check("redis", True, "reachable")]
    if heartbeat is None:
        checks.append(Check("worker", False, "no live worker heartbeat"))
    else:
        text = heartbeat.decode(errors="replace")
        counters = {k: int(v) for k, v in _COUNTER.findall(text)}
        checks.append(Check("worker", True, f"heartbeat {text.split(' j_')[0]}", counters))
    checks.append(Check("queue", True, f"{depth} job(s) queued", {"depth": depth}))
    return checks


async def _postgres_checks(settings: Settings, deadline_s: float, head: str) -> list[Check]:
    conn = await asyncpg.connect(
        asyncpg_dsn(settings.database_url.get_secret_value()),
        timeout=deadline_s,
        server_settings={"search_path": settings.layout.search_path()},
    )
    try:
        await conn.execute("SELECT 1")
        table = version_table_sql(settings.worker_schema)
        exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table)
        current = await conn.fetchval(f"SELECT version_num FROM {table}") if exists else None
        schema_ok = current == head
        stuck = (
            await conn.fetch(STUCK_REQUESTS_SQL, float(stuck_after_seconds(settings)))
            if schema_ok
            else []
        )
    finally:
        await conn.close(timeout=deadline_s)
    detail = f"at head {head}" if schema_ok else f"at {current or 'nothing'}, head is {head}"
    keys = [r["request_key"] for r in stuck]
    requests = (
        Check("requests", True, "no request stuck")
        if not keys
        else Check(
            "requests",
            False,
            f"{len(keys)} request(s) pending/running without progress for over "
            f"{stuck_after_seconds(settings)}s: {', '.join(keys[:5])}"
            + (" …" if len(keys) > 5 else ""),
            {"stuck": keys},
        )
    )
    return [
        Check("postgres", True, "reachable"),
        Check("schema", schema_ok, detail, {"current": current, "head": head}),
        requests,
    ]


def stuck_after_seconds(settings: Settings) -> int:
    """A request without a start or a batch for this long has no live try: a try ends
    within the job timeout, and the longest backoff before the next is 30 s."""
    return settings.job_timeout_seconds + 60


def _outcome(names: list[str], probe: asyncio.Task[list[Check]], deadline_s: float) -> list[Check]:
    if not probe.done() or probe.cancelled():
        reason = f"no answer within {deadline_s:g}s"
    elif (exc := probe.exception()) is not None:
        reason = f"{type(exc).__name__}: {exc}"
    else:
        return probe.result()
    return [Check(names[0], False, reason)] + [
        Check(n, False, f"not checked: {names[0]} unreachable") for n in names[1:]
    ]


def checked_services(settings: Settings) -> dict[str, str]:
    """Which PostgreSQL, Redis and queue a report is about (passwords masked)."""
    return {
        "postgres": redact_url(settings.database_url.get_secret_value()),
        "redis": redact_url(settings.redis_url.get_secret_value()),
        "queue": settings.queue_name,
    }


async def check_health(settings: Settings, *, deadline_s: float = DEADLINE_S) -> HealthReport:
    """Run every check at once under one deadline; a check without an answer by then is
    reported down and abandoned, so the report never takes much longer than ``deadline_s``."""
    head = head_revision()
    probes = {
        ("redis", "worker", "queue"): asyncio.create_task(_redis_checks(settings, deadline_s)),
        ("postgres", "schema", "requests"): asyncio.create_task(
            _postgres_checks(settings, deadline_s, head)
        ),
    }
    _, pending = await asyncio.wait(probes.values(), timeout=deadline_s)
    checks = [
        check
        for names, probe in probes.items()
        for check in _outcome(list(names), probe, deadline_s)
    ]
    for probe in pending:
        probe.cancel()
    if pending:
        # Give cancelled probes a moment to close their sockets; never wait on a hung peer.
        await asyncio.wait(pending, timeout=0.1)
    return HealthReport(checks=checks, checked=checked_services(settings))
