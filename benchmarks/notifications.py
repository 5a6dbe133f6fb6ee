"""Benchmark: notification fan-out of one big event against one raw ``INSERT … SELECT``.

One event affects ``--teams`` teams (default 10,000) with ``--members`` permitted members
each (default 20, so 200,000 notifications); every team also has members without the
permission, and ``--unaffected`` more teams are not in the event at all. All data is made
with ``generate_series`` in its own database, dropped at the end.

For each repetition the notifications table is emptied and filled twice, in turn:
- *raw*: a single ``INSERT … SELECT`` joining the event payload, the members with the
  permission and each team's rendered text (taken from a first fan-out run), in one
  transaction: the floor for writing exactly these rows;
- *job*: ``fanout_event`` as the worker runs it (read the event, render each team's text,
  one ``INSERT … SELECT … ON CONFLICT DO NOTHING`` per chunk of teams, a transaction per
  chunk, then ``fanned_out_at``).
The rows of both are checked to be identical. Then the job is run again twice: once as is
(the event is marked fanned out) and once after clearing ``fanned_out_at`` (a crash before
the mark: every insert meets its conflict). Both must insert 0 rows.

    .venv/bin/python -m benchmarks.notifications [--teams N] [--members N] [--repeat N]

Uses ``LIFECYCLE_DATABASE_URL``'s server (default the local PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from typing import Any

import asyncpg
from sqlalchemy import text

from db.migrate import upgrade
from jobs.notifications import FanoutPayload, fanout_event
from jobs.runtime import Runtime
from worker.app import build_runtime
from worker.devservices import with_database
from worker.health import asyncpg_dsn
from worker.settings import load_settings

PERMISSION = "manage_models"

GENERATE = [
    """
    INSERT INTO teams (slug, name)
    SELECT 'bench-' || lpad(g::text, 6, '0'), 'Bench team ' || g
    FROM generate_series(1, CAST(:all_teams AS int)) AS g
    """,
    """
    INSERT INTO users (email, name)
    SELECT 'u' || lpad(g::text, 8, '0') || '@bench.test', 'User ' || g
    FROM generate_series(1, CAST(:all_teams AS int) * CAST(:per AS int)) AS g
    """,
    # User j belongs to team j / per; the first :members of each team hold the permission.
    """
    INSERT INTO team_members (team_id, user_id, permissions)
    SELECT t.id, u.id,
           CASE WHEN u.j % CAST(:per AS int) < CAST(:members AS int)
                THEN ARRAY['view', CAST(:permission AS text)] ELSE ARRAY['view'] END
    FROM (SELECT id, row_number() OVER (ORDER BY email) - 1 AS j FROM users) AS u
    JOIN (SELECT id, row_number() OVER (ORDER BY slug) - 1 AS i FROM teams) AS t
      ON t.i = u.j / CAST(:per AS int)
    """,
    """
    INSERT INTO llm_models (provider, name, display_name, token_limit)
    VALUES ('openai', 'gpt-4', 'GPT-4', 8192), ('openai', 'gpt-4o', 'GPT-4o', 128000)
    """,
]

EVENT = """
    INSERT INTO lifecycle_events (slug, model_id, model_provider, model_name,
        replacement_provider, replacement_model_name, deprecation_date, payload, dedup_key)
    SELECT 'llm-model-retiring', (SELECT id FROM llm_models WHERE name = 'gpt-4'),
        'openai', 'gpt-4', 'openai', 'gpt-4o', DATE '2026-06-30',
        jsonb_object_agg(t.id::text,
            jsonb_build_object('assistants', 1 + t.i % 5, 'pipelines', t.i % 3)),
        'bench:' || gen_random_uuid()
    FROM (SELECT id, row_number() OVER (ORDER BY slug) - 1 AS i FROM teams) AS t
    WHERE t.i < CAST(:teams AS int)
    RETURNING id
"""

RAW_INSERT = """
    INSERT INTO notifications (event_id, team_id, user_id, slug, level, title, body, data)
    SELECT e.id, m.team_id, m.user_id, b.slug, b.level, b.title, b.body,
           b.data || jsonb_build_object('email', u.email)
    FROM lifecycle_events AS e
    CROSS JOIN LATERAL jsonb_each(e.payload) AS p(team_key, counts)
    JOIN bench_team_messages AS b ON b.team_id = CAST(p.team_key AS uuid)
    JOIN team_members AS m ON m.team_id = b.team_id
    JOIN users AS u ON u.id = m.user_id
    WHERE e.id = :event_id AND m.permissions @> ARRAY[CAST(:permission AS text)]
"""

ROW_COLUMNS = "event_id, team_id, user_id, slug, level, title, body, data"


async def execute(runtime: Runtime, statement: str, **params: Any) -> Any:
    async with runtime.engine.begin() as conn:
        return await conn.execute(text(statement), params)


async def scalar(runtime: Runtime, statement: str, **params: Any) -> Any:
    async with runtime.engine.connect() as conn:
        return await conn.scalar(text(statement), params)


async def reset(runtime: Runtime, event_id: uuid.UUID) -> None:
    await execute(runtime, "TRUNCATE notifications")
    await execute(
        runtime, "UPDATE lifecycle_events SET fanned_out_at = NULL WHERE id = :id", id=event_id
    )


async def timed_job(runtime: Runtime, event_id: uuid.UUID) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    result = await fanout_event(runtime, FanoutPayload(event_id=event_id))
    return time.perf_counter() - started, result


async def timed_raw(runtime: Runtime, event_id: uuid.UUID) -> tuple[float, int]:
    started = time.perf_counter()
    async with runtime.engine.begin() as conn:
        result = await conn.execute(
            text(RAW_INSERT), {"event_id": event_id, "permission": PERMISSION}
        )
    return time.perf_counter() - started, int(result.rowcount)


async def same_rows(runtime: Runtime) -> bool:
    differing = await scalar(
        runtime,
        f"SELECT (SELECT count(*) FROM (SELECT {ROW_COLUMNS} FROM notifications "
        f"EXCEPT SELECT {ROW_COLUMNS} FROM bench_job_rows) a) + "
        f"(SELECT count(*) FROM (SELECT {ROW_COLUMNS} FROM bench_job_rows "
        f"EXCEPT SELECT {ROW_COLUMNS} FROM notifications) b)",
    )
    return int(differing) == 0


async def bench(args: argparse.Namespace, url: str) -> dict[str, Any]:
    settings = load_settings(database_url=url, fanout_team_chunk=args.chunk)
    runtime = build_runtime(settings)
    try:
        sizes = {
            "all_teams": args.teams + args.unaffected,
            "per": args.members + args.others,
            "members": args.members,
        }
        started = time.perf_counter()
        for statement in GENERATE:
            await execute(runtime, statement, permission=PERMISSION, **sizes)
        event_id = (await execute(runtime, EVENT, teams=args.teams)).scalar_one()
        await execute(runtime, "ANALYZE")
        generated = time.perf_counter() - started
        expected = args.teams * args.members
        print(
            f"data: {args.teams + args.unaffected} teams "
            f"({args.teams} affected), {await scalar(runtime, 'SELECT count(*) FROM users')} "
            f"users, {await scalar(runtime, 'SELECT count(*) FROM team_members')} memberships; "
            f"expecting {expected} notifications ({generated:.1f}s to generate)",
            flush=True,
        )

        # A first run renders every team's text; the raw statement reuses it.
        warmup, result = await timed_job(runtime, event_id)
        assert result["notifications"] == expected, result
        await execute(
            runtime, f"CREATE TABLE bench_job_rows AS SELECT {ROW_COLUMNS} FROM notifications"
        )
        await execute(
            runtime,
            "CREATE TABLE bench_team_messages AS SELECT DISTINCT ON (team_id) "
            "team_id, slug, level, title, body, data FROM notifications ORDER BY team_id",
        )
        await execute(runtime, "ALTER TABLE bench_team_messages ADD PRIMARY KEY (team_id)")
        await execute(runtime, "ANALYZE bench_team_messages")
        print(f"warm-up job run: {warmup:.3f}s", flush=True)

        raw_times: list[float] = []
        job_times: list[float] = []
        for rep in range(1, args.repeat + 1):
            await reset(runtime, event_id)
            raw_s, raw_rows = await timed_raw(runtime, event_id)
            assert raw_rows == expected, raw_rows
            assert await same_rows(runtime), "raw INSERT … SELECT rows differ from the job's"
            await reset(runtime, event_id)
            job_s, result = await timed_job(runtime, event_id)
            assert result["notifications"] == expected, result
            assert await same_rows(runtime), "job rows differ from the first run's"
            raw_times.append(raw_s)
            job_times.append(job_s)
            print(
                f"repetition {rep}: raw {raw_s:.3f}s, job {job_s:.3f}s (ratio {job_s / raw_s:.2f})",
                flush=True,
            )

        rerun_s, rerun = await timed_job(runtime, event_id)
        await execute(
            runtime, "UPDATE lifecycle_events SET fanned_out_at = NULL WHERE id = :id", id=event_id
        )
        redo_s, redo = await timed_job(runtime, event_id)
        total = int(await scalar(runtime, "SELECT count(*) FROM notifications"))
        raw_median = statistics.median(raw_times)
        job_median = statistics.median(job_times)
        return {
            "teams": args.teams,
            "members_per_team": args.members,
            "chunk_teams": args.chunk,
            "notifications": expected,
            "raw_seconds": [round(t, 3) for t in raw_times],
            "job_seconds": [round(t, 3) for t in job_times],
            "raw_median_seconds": round(raw_median, 3),
            "job_median_seconds": round(job_median, 3),
            "ratio": round(job_median / raw_median, 2),
            "rerun_seconds": round(rerun_s, 3),
            "rerun_inserted": rerun["notifications"],
            "rerun_status": rerun["status"],
            "redo_after_crash_seconds": round(redo_s, 3),
            "redo_after_crash_inserted": redo["notifications"],
            "rows_after_reruns": total,
        }
    finally:
        await runtime.engine.dispose()


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--teams", type=int, default=10_000, help="affected teams")
    parser.add_argument("--members", type=int, default=20, help="permitted members per team")
    parser.add_argument("--others", type=int, default=3, help="members without the permission")
    parser.add_argument("--unaffected", type=int, default=1_000, help="teams not in the event")
    parser.add_argument("--chunk", type=int, default=500, help="fanout_team_chunk")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    server = load_settings().database_url.get_secret_value()
    name = f"lifecycle_bench_notifications_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(with_database(server, "postgres")), timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = with_database(server, name)
        try:
            await asyncio.to_thread(upgrade, url)
            figures = await bench(args, url)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()

    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"\n{figures['notifications']} notifications "
            f"({figures['teams']} teams x {figures['members_per_team']} members, "
            f"chunks of {figures['chunk_teams']} teams)\n"
            f"  raw INSERT ... SELECT (median): {figures['raw_median_seconds']:.3f}s\n"
            f"  fanout_event (median):          {figures['job_median_seconds']:.3f}s\n"
            f"  ratio job/raw:                  {figures['ratio']:.2f} (goal <= 1.5)\n"
            f"  re-run, event marked:           {figures['rerun_seconds']:.3f}s, "
            f"{figures['rerun_inserted']} rows inserted ({figures['rerun_status']})\n"
            f"  re-run after crash before mark: {figures['redo_after_crash_seconds']:.3f}s, "
            f"{figures['redo_after_crash_inserted']} rows inserted\n"
            f"  rows after re-runs:             {figures['rows_after_reruns']}"
        )
    ok = (
        figures["rerun_inserted"] == 0
        and figures["redo_after_crash_inserted"] == 0
        and figures["rows_after_reruns"] == figures["notifications"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
