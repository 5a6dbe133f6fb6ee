"""Benchmark: delivering one event to 1,000 teams by webhook, against the receiver's floor.

One event affects ``--teams`` teams (default 1,000), one permitted member each; the
fan-out writes one webhook delivery per team. A receiver runs in its own process on
loopback (aiohttp; it checks every signature and answers 200). For each repetition, in
turn:
- *floor*: the same 1,000 signed requests (the stored bodies, the same headers) sent by a
  bare loop over one httpx client with as many requests in flight as the sender starts
  (``HTTP_SLOTS``), no database at all;
- *job*: every delivery set back to pending, then ``send_deliveries`` as the worker runs
  it (claim batches with ``FOR UPDATE SKIP LOCKED``, send, record the outcomes);
- *hanging*: the same, with the receiver hanging on every tenth team (it never answers;
  each of those sends ends at the delivery deadline): the time until the other 90 % are
  recorded ``delivered`` (the last ``delivered_at``), against the floor.
The receiver must have accepted every request of the floor and the job.

    .venv/bin/python -m benchmarks.deliveries [--teams N] [--repeat N]

Uses ``LIFECYCLE_DATABASE_URL``'s server (default the local PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import logging
import socket
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import asyncpg
import httpx
from sqlalchemy import text

from db.migrate import upgrade
from jobs.channels.base import HTTP_SLOTS
from jobs.channels.webhook import encode_body, idempotency_key, webhook_headers
from jobs.deliveries import send_deliveries
from jobs.notifications import FanoutPayload, fanout_event
from jobs.runtime import Runtime
from jobs.spec import EmptyPayload
from worker.app import build_runtime
from worker.devservices import with_database
from worker.health import asyncpg_dsn
from worker.settings import load_settings

SECRET = "bench-secret"

GENERATE = [
    "INSERT INTO teams (slug, name) SELECT 'bench-' || g, 'Bench ' || g "
    "FROM generate_series(1, CAST(:teams AS int)) g",
    "INSERT INTO users (email, name) SELECT 'u' || g || '@bench.test', 'U' || g "
    "FROM generate_series(1, CAST(:teams AS int)) g",
    "INSERT INTO team_members (team_id, user_id, permissions) "
    "SELECT t.id, u.id, ARRAY['manage_models'] FROM teams t "
    "JOIN users u ON u.email = 'u' || substr(t.slug, 7) || '@bench.test'",
    "INSERT INTO llm_models (provider, name, display_name, token_limit) "
    "VALUES ('openai', 'bench-old', 'bench-old', 8192)",
    "INSERT INTO assistants (team_id, name, llm_model_id) "
    "SELECT id, 'a', (SELECT id FROM llm_models) FROM teams",
    "INSERT INTO lifecycle_events (slug, dedup_key, model_id, model_provider, model_name, "
    "payload) SELECT 'llm-model-deprecated', 'bench', m.id, m.provider, m.name, "
    "(SELECT jsonb_object_agg(id::text, '{\"assistants\": 1}'::jsonb) FROM teams) "
    "FROM llm_models m",
]


def serve(port: int) -> None:
    """The receiver process: verify each signature, count, answer 200 (in hanging mode,
    never answer teams whose number ends in 0)."""
    from aiohttp import web

    accepted = 0
    hanging = False

    async def handle(request: web.Request) -> web.Response:
        nonlocal accepted
        body = await request.read()
        fields = dict(p.split("=", 1) for p in request.headers["Lifecycle-Signature"].split(","))
        mac = hmac.new(SECRET.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256)
        if not hmac.compare_digest(mac.hexdigest(), fields["v1"]):
            return web.Response(status=401)
        if hanging and json.loads(body)["team"]["slug"].endswith("0"):
            await asyncio.sleep(3600)
        accepted += 1
        return web.Response(status=200)

    async def count(request: web.Request) -> web.Response:
        return web.json_response({"accepted": accepted})

    async def mode(request: web.Request) -> web.Response:
        nonlocal hanging
        hanging = request.query.get("hang") == "1"
        return web.json_response({"hanging": hanging})

    app = web.Application()
    app.router.add_post("/hook", handle)
    app.router.add_get("/count", count)
    app.router.add_post("/mode", mode)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, shutdown_timeout=1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def accepted(base: str) -> int:
    async with httpx.AsyncClient() as client:
        return int((await client.get(f"{base}/count")).json()["accepted"])


async def wait_ready(base: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            await accepted(base)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def execute(runtime: Runtime, statement: str, **params: Any) -> Any:
    async with runtime.engine.begin() as conn:
        return await conn.execute(text(statement), params)


async def floor(runtime: Runtime, url: str, concurrency: int) -> float:
    """The same requests, sent by a bare loop: no claims, no outcomes recorded."""
    async with runtime.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT event_id, team_id, payload FROM deliveries"))).all()
    requests = [(encode_body(p), idempotency_key(e, t)) for e, t, p in rows]
    slots = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:

        async def one(body: bytes, key: str) -> None:
            async with slots:
                headers = webhook_headers(SECRET, int(time.time()), body, key)
                response = await client.post(url, content=body, headers=headers)
                assert response.status_code == 200, response.status_code

        started = time.perf_counter()
        await asyncio.gather(*(one(b, k) for b, k in requests))
        return time.perf_counter() - started


async def reset(runtime: Runtime) -> None:
    await execute(
        runtime,
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), "
        "delivered_at = NULL, last_error = NULL",
    )


async def job(runtime: Runtime) -> tuple[float, dict[str, Any]]:
    await reset(runtime)
    started = time.perf_counter()
    report = await send_deliveries(runtime, EmptyPayload(), linger_seconds=0)
    return time.perf_counter() - started, report


async def hanging(runtime: Runtime, base: str, healthy: int, hung: int) -> float:
    """Seconds until ``healthy`` deliveries are recorded while every tenth team's
    receiver hangs (the job itself goes on until those sends reach their deadline):
    from the job's start to the last ``delivered_at``, both read on the database's clock
    (no polling while the job runs)."""
    async with httpx.AsyncClient() as client:
        await client.post(f"{base}/mode", params={"hang": "1"})
    await reset(runtime)
    started = (await execute(runtime, "SELECT clock_timestamp()")).scalar_one()
    report = await send_deliveries(runtime, EmptyPayload(), linger_seconds=0)
    assert report["delivered"] == healthy and report["retrying"] >= hung, report
    last = (await execute(runtime, "SELECT max(delivered_at) FROM deliveries")).scalar_one()
    async with httpx.AsyncClient() as client:
        await client.post(f"{base}/mode", params={"hang": "0"})
    return float((last - started).total_seconds())


async def bench(args: argparse.Namespace, url: str, base: str) -> dict[str, Any]:
    settings = load_settings(database_url=url, webhook_url=f"{base}/hook", webhook_secret=SECRET)
    runtime = build_runtime(settings)
    try:
        for statement in GENERATE:
            await execute(runtime, statement, teams=args.teams)
        async with runtime.engine.connect() as conn:
            event_id = (await conn.execute(text("SELECT id FROM lifecycle_events"))).scalar_one()
        fanned = await fanout_event(runtime, FanoutPayload(event_id=event_id))
        assert fanned["deliveries"] == args.teams, fanned
        warm_s, _ = await job(runtime)
        print(f"{args.teams} deliveries written; warm-up job run {warm_s:.3f}s", flush=True)
        floors, jobs, hangs = [], [], []
        healthy = args.teams - args.teams // 10
        for rep in range(1, args.repeat + 1):
            before = await accepted(base)
            floor_s = await floor(runtime, f"{base}/hook", HTTP_SLOTS)
            job_s, report = await job(runtime)
            assert report["delivered"] == args.teams, report
            assert await accepted(base) - before == 2 * args.teams
            floors.append(floor_s)
            jobs.append(job_s)
            line = f"repetition {rep}: floor {floor_s:.3f}s, job {job_s:.3f}s "
            line += f"(ratio {job_s / floor_s:.2f})"
            if args.hanging:
                hangs.append(await hanging(runtime, base, healthy, args.teams - healthy))
                line += f"; 10 % hanging: healthy 90 % in {hangs[-1]:.3f}s "
                line += f"({hangs[-1] / floor_s:.2f} x floor)"
            print(line, flush=True)
        hanging_figures = (
            {
                "hanging_healthy_seconds": [round(t, 3) for t in hangs],
                "hanging_median_seconds": round(statistics.median(hangs), 3),
                "hanging_ratio": round(statistics.median(hangs) / statistics.median(floors), 2),
            }
            if hangs
            else {}
        )
        return {
            "teams": args.teams,
            "concurrency": HTTP_SLOTS,
            **hanging_figures,
            "floor_seconds": [round(t, 3) for t in floors],
            "job_seconds": [round(t, 3) for t in jobs],
            "floor_median_seconds": round(statistics.median(floors), 3),
            "job_median_seconds": round(statistics.median(jobs), 3),
            "ratio": round(statistics.median(jobs) / statistics.median(floors), 2),
            "median_of_ratios": round(
                statistics.median(j / f for j, f in zip(jobs, floors, strict=True)), 2
            ),
        }
    finally:
        await runtime.engine.dispose()


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--teams", type=int, default=1_000, help="affected teams")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--no-hanging",
        dest="hanging",
        action="store_false",
        help="skip the run with every tenth receiver hanging",
    )
    args = parser.parse_args(argv)
    # One line per hanging delivery's retry would drown the figures.
    logging.getLogger("lifecycle.deliveries").setLevel(logging.ERROR)

    port = free_port()
    receiver = subprocess.Popen(  # noqa: ASYNC220 (started once, before any timing)
        [sys.executable, "-m", "benchmarks.deliveries", "--serve", str(port)]
    )
    base = f"http://127.0.0.1:{port}"
    server = load_settings().database_url.get_secret_value()
    name = f"lifecycle_bench_deliveries_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(with_database(server, "postgres")), timeout=10)
    try:
        await wait_ready(base)
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = with_database(server, name)
        try:
            await asyncio.to_thread(upgrade, url)
            figures = await bench(args, url, base)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
        receiver.terminate()
        receiver.wait(timeout=10)

    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"\none event to {figures['teams']} teams by webhook "
            f"(concurrency {figures['concurrency']}, receiver in its own process)\n"
            f"  bare loop, same requests (median): {figures['floor_median_seconds']:.3f}s\n"
            f"  send_deliveries (median):          {figures['job_median_seconds']:.3f}s\n"
            f"  ratio job/floor:                   {figures['ratio']:.2f} "
            f"(median of per-run ratios {figures['median_of_ratios']:.2f})"
        )
        if "hanging_ratio" in figures:
            print(
                f"  10 % hanging, healthy 90 % (median): {figures['hanging_median_seconds']:.3f}s "
                f"= {figures['hanging_ratio']:.2f} x floor"
            )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]))
    else:
        sys.exit(asyncio.run(main()))
