"""Benchmark: ``migrate_model`` end to end against a raw-SQL re-pointing baseline.

One model is referenced by ``--refs`` live rows (default 500,000: 40 % assistants, 20 %
apps, 20 % services, 10 % templates, 10 % pipeline nodes) across ``--teams`` teams
(default 10,000), plus ``--questions`` history rows (default 2,000,000). The seeded
database is cloned (``CREATE DATABASE … TEMPLATE``) so both contenders start from
identical data (each repetition on fresh clones; medians are reported):

- *job*: the real worker — the job is enqueued with the client and run by an arq
  ``Worker`` in a child process (so its peak RSS is its own), batches of
  ``LIFECYCLE_BATCH_SIZE`` rows, each its own transaction, counts, audit, outbox event;
- *raw*: one ``UPDATE`` per table (pipelines rewritten with the same jsonb functions) and
  the source flagged migrated, in one transaction.

Both end states are checked to be the same. Peak memory is measured at 100k and at the
full size (``--memory-sizes``) to show it stays flat.

    .venv/bin/python -m benchmarks.migration [--refs N] [--teams N] [--questions N]

Uses ``LIFECYCLE_DATABASE_URL``'s server and ``LIFECYCLE_REDIS_URL``; databases it creates
are named ``lifecycle_bench_mig_*`` and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import asyncpg

from db.migrate import upgrade
from worker.devservices import with_database
from worker.health import asyncpg_dsn
from worker.settings import load_settings

SHARES = {"assistants": 0.4, "apps": 0.2, "services": 0.2, "templates": 0.1, "pipelines": 0.1}

SEED = """
INSERT INTO teams (slug, name)
SELECT 'bench-' || g, 'Bench ' || g FROM generate_series(1, $1::int) g;
"""

RAW_MIGRATION = """
UPDATE assistants SET llm_model_id = $2, model_parameters = '{}'::jsonb WHERE llm_model_id = $1;
UPDATE apps SET llm_model_id = $2 WHERE llm_model_id = $1;
UPDATE services SET llm_model_id = $2 WHERE llm_model_id = $1;
UPDATE templates SET llm_model_id = $2 WHERE llm_model_id = $1 AND deleted_at IS NULL;
"""


def _rows(refs: int) -> dict[str, int]:
    return {table: int(refs * share) for table, share in SHARES.items()}


async def seed(dsn: str, refs: int, teams: int, questions: int) -> tuple[uuid.UUID, uuid.UUID]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute(
            "INSERT INTO teams (slug, name) SELECT 'bench-' || g, 'Bench ' || g "
            "FROM generate_series(1, $1::int) g",
            teams,
        )
        await conn.execute(
            "CREATE TEMP TABLE team_ix AS SELECT id, row_number() OVER (ORDER BY id) - 1 AS ix "
            "FROM teams"
        )
        await conn.execute("CREATE INDEX ON team_ix (ix)")
        a = await conn.fetchval(
            "INSERT INTO llm_models (provider, name, display_name, token_limit) "
            "VALUES ('openai', 'bench-source', 'Source', 8000) RETURNING id"
        )
        b = await conn.fetchval(
            "INSERT INTO llm_models (provider, name, display_name, token_limit) "
            "VALUES ('openai', 'bench-target', 'Target', 8000) RETURNING id"
        )
        rows = _rows(refs)
        pick_team = f"(SELECT id FROM team_ix WHERE ix = g % {teams})"
        await conn.execute(
            f"INSERT INTO assistants (team_id, name, llm_model_id, model_parameters) "
            f"SELECT {pick_team}, 'a' || g, $1, '{{\"temperature\": 0.3}}'::jsonb "
            f"FROM generate_series(1, $2::int) g",
            a,
            rows["assistants"],
        )
        for table in ("apps", "services", "templates"):
            await conn.execute(
                f"INSERT INTO {table} (team_id, name, llm_model_id) "
                f"SELECT {pick_team}, '{table}' || g, $1 FROM generate_series(1, $2::int) g",
                a,
                rows[table],
            )
        await conn.execute(
            f"INSERT INTO pipelines (team_id, name, definition) "
            f"SELECT {pick_team}, 'p' || g, jsonb_build_object('nodes', jsonb_build_array("
            f"jsonb_build_object('id', 'llm', 'type', 'llm', 'params', "
            f"jsonb_build_object('llm_model_id', $1::text, 'temperature', 0.2)), "
            f"jsonb_build_object('id', 'start', 'type', 'start', 'params', '{{}}'::jsonb))) "
            f"FROM generate_series(1, $2::int) g",
            str(a),
            rows["pipelines"],
        )
        await conn.execute(
            f"INSERT INTO questions (team_id, llm_model_id, prompt_tokens, completion_tokens) "
            f"SELECT {pick_team}, $1, 10, 20 FROM generate_series(1, $2::int) g",
            a,
            questions,
        )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return a, b


async def raw_migration(dsn: str, a: uuid.UUID, b: uuid.UUID) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        async with conn.transaction():
            for statement in RAW_MIGRATION.strip().splitlines():
                await conn.execute(statement, a, b)
            await conn.execute(
                """
UPDATE pipelines t SET definition = jsonb_set(t.definition, '{nodes}', (
    SELECT jsonb_agg(CASE WHEN e.node -> 'params' ->> 'llm_model_id' = $1::text
        THEN jsonb_set(e.node, '{params,llm_model_id}', to_jsonb($2::text)) ELSE e.node END
        ORDER BY e.ord)
    FROM jsonb_array_elements(t.definition -> 'nodes') WITH ORDINALITY AS e(node, ord)))
WHERE t.definition @> jsonb_build_object('nodes', jsonb_build_array(
    jsonb_build_object('params', jsonb_build_object('llm_model_id', $1::text))))""",
                str(a),
                str(b),
            )
            await conn.execute(
                "UPDATE llm_models SET migrated_to_model_id = $2, updated_at = now() WHERE id = $1",
                a,
                b,
            )
        return time.perf_counter() - started
    finally:
        await conn.close()


async def end_state(dsn: str, b: uuid.UUID) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        state = {}
        for table in ("assistants", "apps", "services", "templates"):
            state[table] = await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE llm_model_id = $1", b
            )
        state["pipelines"] = await conn.fetchval(
            "SELECT count(*) FROM pipelines WHERE definition @> jsonb_build_object('nodes', "
            "jsonb_build_array(jsonb_build_object('params', "
            "jsonb_build_object('llm_model_id', $1::text))))",
            str(b),
        )
        state["reset_parameters"] = await conn.fetchval(
            "SELECT count(*) FROM assistants WHERE model_parameters = '{}'::jsonb"
        )
        return state
    finally:
        await conn.close()


async def child(url: str, source: str, target: str) -> dict[str, Any]:
    """Run the job through the client and a running arq worker; report time and peak RSS.

    The worker is started (and its start-up finished) before the clock starts: a deployed
    worker is already running when a migration is requested.
    """
    from worker.app import make_worker
    from worker.client import LifecycleClient

    settings = load_settings(database_url=url, queue_name=f"bench:{uuid.uuid4().hex[:8]}")
    key = f"bench-{uuid.uuid4()}"
    async with LifecycleClient(settings) as client:
        worker = make_worker(settings, poll_delay=0.02, handle_signals=False)
        running = asyncio.create_task(worker.async_run())
        warm = await client.enqueue("ping", {}, key=f"warm-{key}")
        await client.result(warm.job_id, timeout_s=60)
        started = time.perf_counter()
        handle = await client.migrate_model(
            source, target, requested_by="bench", request_key=key, confirm_warnings=True
        )
        result = await client.result(handle.job_id, timeout_s=3600, poll_s=0.02)
        elapsed = time.perf_counter() - started
        # Peak memory is read once the worker is idle again: the migration's fan-out (one
        # notification batch per affected team) runs in the same worker right after it.
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            pending = True
            while pending:
                await asyncio.sleep(0.1)
                pending = await conn.fetchval(
                    "SELECT count(*) > 0 FROM lifecycle.lifecycle_events "
                    "WHERE fanned_out_at IS NULL"
                )
        finally:
            await conn.close()
        running.cancel()
        await worker.close()
    return {
        "seconds": elapsed,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "status": result["status"],
        "counts": result["counts"],
    }


def run_child(url: str, a: uuid.UUID, b: uuid.UUID) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.migration", "--child", url, str(a), str(b)],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ.copy(),
    )
    if done.returncode != 0:
        raise SystemExit(f"the job run failed:\n{done.stderr[-4000:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


async def admin(sql: str) -> None:
    settings = load_settings()
    conn = await asyncpg.connect(
        asyncpg_dsn(with_database(settings.database_url.get_secret_value(), "postgres"))
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def measure(refs: int, teams: int, questions: int, repeat: int) -> dict[str, Any]:
    """Seed once, then ``repeat`` times: clone twice, run the job on one clone and the raw
    baseline on the other. Medians of the repetitions are reported."""
    settings = load_settings()
    base = settings.database_url.get_secret_value()
    tag = uuid.uuid4().hex[:8]
    src = f"lifecycle_bench_mig_{tag}"
    clones = [f"{src}_job", f"{src}_raw"]
    await admin(f'CREATE DATABASE "{src}"')
    try:
        url = with_database(base, src)
        await asyncio.to_thread(upgrade, url)
        t0 = time.perf_counter()
        a, b = await seed(asyncpg_dsn(url), refs, teams, questions)
        seed_s = time.perf_counter() - t0
        job_s, raw_s, rss, moved = [], [], [], 0
        for _ in range(repeat):
            for clone in clones:
                await admin(f'DROP DATABASE IF EXISTS "{clone}" WITH (FORCE)')
                await admin(f'CREATE DATABASE "{clone}" TEMPLATE "{src}"')
            job_url, raw_url = (with_database(base, c) for c in clones)
            job = await asyncio.to_thread(run_child, job_url, a, b)
            raw_s.append(await raw_migration(asyncpg_dsn(raw_url), a, b))
            job_s.append(job["seconds"])
            rss.append(job["max_rss_mb"])
            moved = sum(job["counts"].values())
            job_state = await end_state(asyncpg_dsn(job_url), b)
            raw_state = await end_state(asyncpg_dsn(raw_url), b)
            if job_state != raw_state:
                raise SystemExit(f"end states differ: job {job_state} vs raw {raw_state}")
        job_med, raw_med = statistics.median(job_s), statistics.median(raw_s)
        return {
            "refs": refs,
            "seed_s": seed_s,
            "job_s": job_med,
            "raw_s": raw_med,
            "ratio": job_med / raw_med,
            "ratios": [j / r for j, r in zip(job_s, raw_s, strict=True)],
            "max_rss_mb": max(rss),
            "rows_moved": moved,
        }
    finally:
        for name in (*clones, src):
            await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main(args: argparse.Namespace) -> None:
    settings = load_settings()
    print(
        f"migrate_model vs raw SQL  (batch size {settings.batch_size}, "
        f"{args.teams} teams, {args.questions} question rows)"
    )
    sizes = sorted({*args.memory_sizes, args.refs})
    results = []
    for refs in sizes:
        r = await measure(refs, args.teams, args.questions, args.repeat)
        results.append(r)
        print(
            f"  {r['refs']:>8} refs: job {r['job_s']:7.2f} s  raw {r['raw_s']:7.2f} s  "
            f"ratio {r['ratio']:5.2f} (each run: {', '.join(f'{x:.2f}' for x in r['ratios'])})  "
            f"worker peak RSS {r['max_rss_mb']:6.1f} MB  "
            f"(moved {r['rows_moved']}, seeded in {r['seed_s']:.0f} s)"
        )
    full = results[-1]
    paired = statistics.median(full["ratios"])
    print(
        f"ratio at {full['refs']} refs: {full['ratio']:.2f} as median job / median raw, "
        f"{paired:.2f} as the median of each run's job/raw (goal <= 1.5)"
    )
    rss = [r["max_rss_mb"] for r in results]
    print(
        f"peak RSS across sizes: {', '.join(f'{x:.1f}' for x in rss)} MB "
        f"(growth {rss[-1] - rss[0]:+.1f} MB)"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(asyncio.run(child(*sys.argv[2:5]))))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refs", type=int, default=500_000)
    parser.add_argument("--teams", type=int, default=10_000)
    parser.add_argument("--questions", type=int, default=2_000_000)
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[100_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (medians shown)")
    asyncio.run(main(parser.parse_args()))
