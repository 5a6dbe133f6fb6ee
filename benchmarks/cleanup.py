"""Benchmark: the weekly cleanup's cost must not grow with history.

In its own database (one per size, dropped at the end) it makes 200 active models, ``--candidates``
retired models (default 5,000: half soft-deleted, half migrated; every tenth with a
soft-deleted template to repoint; 50 kept by questions and 20 by a live app) and then
``--small`` (default 2,000,000) question rows, all made with ``generate_series``. The
questions refer to the active models, except 100 for each history-kept candidate.

The same is built a second time with ``--large`` (default 10,000,000) questions in a
second database. Then, ``--repeat`` times and alternating between the two sizes (so load
from other work on the machine hits both alike): a fresh set of removable candidates is
made (the kept ones stay, so every run sees the same number of candidates), the aggregate
approach is timed — one ``GROUP BY`` over all questions to find the retired models
nothing refers to — and then ``cleanup_retired_models`` as the worker runs it (per model:
lock, ``EXISTS`` probes, repoint, delete, audit; a transaction each). Printed: the best
and median cleanup time at both sizes and their ratios (goal <= 1.2), the aggregate's
times and ratio, and how many buffers the history probe touches at each size.

    .venv/bin/python -m benchmarks.cleanup [--small N] [--large N] [--repeat N] [--json]

Uses ``LIFECYCLE_DATABASE_URL``'s server (default the local PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from typing import Any

import asyncpg

from db.migrate import upgrade
from jobs.cleanup import CleanupPayload, cleanup_retired_models
from worker.app import build_runtime
from worker.devservices import with_database
from worker.health import asyncpg_dsn
from worker.settings import load_settings

ACTIVE_MODELS = 200
HISTORY_KEPT = 50
LIVE_KEPT = 20
QUESTIONS_PER_KEPT = 100
CHUNK = 1_000_000

SETUP = [
    "INSERT INTO teams (slug, name) VALUES ('bench', 'Bench')",
    f"""
    INSERT INTO llm_models (provider, name, display_name, token_limit)
    SELECT 'bench', 'active-' || lpad(g::text, 4, '0'), 'Active ' || g, 8192
    FROM generate_series(1, {ACTIVE_MODELS}) AS g
    """,
    # Retired models the cleanup must keep: history (questions added with the first
    # questions) and a live app still pointing at a soft-deleted model.
    f"""
    INSERT INTO llm_models (provider, name, display_name, token_limit, deleted_at)
    SELECT 'bench', 'kept-history-' || g, 'Kept ' || g, 8192, now() - interval '400 days'
    FROM generate_series(1, {HISTORY_KEPT}) AS g
    """,
    f"""
    INSERT INTO llm_models (provider, name, display_name, token_limit, deleted_at)
    SELECT 'bench', 'kept-live-' || g, 'Kept ' || g, 8192, now() - interval '400 days'
    FROM generate_series(1, {LIVE_KEPT}) AS g
    """,
    """
    INSERT INTO apps (team_id, name, llm_model_id)
    SELECT (SELECT id FROM teams), 'app-' || m.name, m.id
    FROM llm_models m WHERE m.name LIKE 'kept-live-%'
    """,
]

# Removable candidates of one round: even ones soft-deleted, odd ones migrated.
CANDIDATES = """
    WITH active AS (
        SELECT array_agg(id ORDER BY name) AS ids FROM llm_models WHERE name LIKE 'active-%'
    )
    INSERT INTO llm_models (provider, name, display_name, token_limit, deleted_at,
                            migrated_to_model_id)
    SELECT 'bench', $1::text || '-' || g, 'Retired ' || g, 8192,
           CASE WHEN g % 2 = 0 THEN now() - make_interval(mins => g) END,
           CASE WHEN g % 2 = 1 THEN active.ids[1 + g % array_length(active.ids, 1)] END
    FROM generate_series(1, $2::int) AS g, active
"""

TEMPLATES = """
    INSERT INTO templates (team_id, name, llm_model_id, deleted_at)
    SELECT (SELECT id FROM teams), 'old-' || m.name, m.id, now()
    FROM llm_models m
    WHERE m.name LIKE $1::text || '-%' AND split_part(m.name, '-', 2)::int % 10 = 0
"""

# Sequential ids keep the primary key append-only; questions point at active models.
QUESTIONS = """
    WITH active AS (
        SELECT array_agg(id ORDER BY name) AS ids FROM llm_models WHERE name LIKE 'active-%'
    )
    INSERT INTO questions (id, team_id, llm_model_id, prompt_tokens, completion_tokens)
    SELECT lpad(to_hex(g), 32, '0')::uuid, (SELECT id FROM teams),
           active.ids[1 + g % array_length(active.ids, 1)], g % 1000, g % 500
    FROM generate_series($1::bigint, $2::bigint) AS g, active
"""

KEPT_QUESTIONS = f"""
    INSERT INTO questions (id, team_id, llm_model_id)
    SELECT lpad(to_hex(g), 32, '0')::uuid, (SELECT id FROM teams), m.ids[1 + g % {HISTORY_KEPT}]
    FROM generate_series($1::bigint, $2::bigint) AS g,
         (SELECT array_agg(id) AS ids FROM llm_models WHERE name LIKE 'kept-history-%') AS m
"""

AGGREGATE = """
    SELECT count(*) FROM llm_models m
    LEFT JOIN (SELECT llm_model_id FROM questions GROUP BY llm_model_id) AS q
           ON q.llm_model_id = m.id
    WHERE (m.deleted_at IS NOT NULL OR m.migrated_to_model_id IS NOT NULL)
      AND q.llm_model_id IS NULL
"""


def say(message: str) -> None:
    print(message, flush=True)


async def add_questions(conn: asyncpg.Connection, have: int, want: int) -> None:
    """Grow ``questions`` from ``have`` to ``want`` rows (foreign keys hold by construction)."""
    await conn.execute("SET session_replication_role = replica")  # skip per-row FK checks
    if have == 0:
        kept = HISTORY_KEPT * QUESTIONS_PER_KEPT
        await conn.execute(KEPT_QUESTIONS, 1, kept)
        have = kept
    while have < want:
        upto = min(want, have + CHUNK)
        started = time.monotonic()
        await conn.execute(QUESTIONS, have + 1, upto)
        say(f"  questions {upto:>12,} (+{upto - have:,} in {time.monotonic() - started:.1f}s)")
        have = upto
    await conn.execute("SET session_replication_role = DEFAULT")
    started = time.monotonic()
    await conn.execute("VACUUM (ANALYZE) questions")
    await conn.execute("VACUUM (ANALYZE) llm_models")
    # Write the loaded pages out now, not while the cleanup's commits wait for the disk.
    await conn.execute("CHECKPOINT")
    say(f"  vacuum analyze, checkpoint {time.monotonic() - started:.1f}s")


async def probe_buffers(conn: asyncpg.Connection) -> int:
    """Buffers the history probe touches for a model with no questions (generic plan)."""
    model_id = await conn.fetchval(
        "SELECT id FROM llm_models WHERE deleted_at IS NOT NULL AND name NOT LIKE 'kept-%' LIMIT 1"
    )
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    try:
        explain = await conn.prepare(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
            "SELECT EXISTS (SELECT 1 FROM questions t WHERE t.llm_model_id = $1)"
        )
        plan = json.loads(await explain.fetchval(model_id))[0]["Plan"]
    finally:
        await conn.execute("RESET plan_cache_mode")
    return int(plan["Shared Hit Blocks"]) + int(plan["Shared Read Blocks"])


async def measure(
    conn: asyncpg.Connection, url: str, label: str, removable: int, max_models: int
) -> dict[str, Any]:
    """One round: fresh candidates, the aggregate query, then the cleanup job."""
    await conn.execute(CANDIDATES, label, removable)
    await conn.execute(TEMPLATES, label)
    await conn.execute("ANALYZE llm_models")
    buffers = await probe_buffers(conn)

    started = time.monotonic()
    unreferenced = await conn.fetchval(AGGREGATE)
    aggregate_s = time.monotonic() - started

    runtime = build_runtime(load_settings(database_url=url, cleanup_max_models=max_models))
    try:
        started = time.monotonic()
        report = await cleanup_retired_models(runtime, CleanupPayload(trigger="manual"))
        cleanup_s = time.monotonic() - started
    finally:
        await runtime.engine.dispose()
    reasons: dict[str, int] = {}
    for skip in report["skipped"]:
        reasons[skip["reason"]] = reasons.get(skip["reason"], 0) + 1
    if report["errors"] or len(report["removed"]) != removable:
        raise RuntimeError(f"unexpected cleanup outcome: {report['errors'][:3]} {reasons}")
    return {
        "cleanup_s": cleanup_s,
        "aggregate_s": aggregate_s,
        "candidates": report["candidates"],
        "removed": len(report["removed"]),
        "skipped": reasons,
        "aggregate_unreferenced": unreferenced,
        "probe_buffers": buffers,
    }


def summarize(size: int, questions: int, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "questions": questions,
        "cleanup_s": min(r["cleanup_s"] for r in rounds),
        "cleanup_median_s": statistics.median(r["cleanup_s"] for r in rounds),
        "aggregate_s": min(r["aggregate_s"] for r in rounds),
        "probe_buffers": max(r["probe_buffers"] for r in rounds),
        "rounds": rounds,
    }


async def bench(args: argparse.Namespace, urls: dict[int, str]) -> dict[str, Any]:
    """Load each size into its own database, then alternate timed rounds between them."""
    removable = args.candidates - HISTORY_KEPT - LIVE_KEPT
    conns = {
        size: await asyncpg.connect(asyncpg_dsn(url), timeout=10) for size, url in urls.items()
    }
    rounds: dict[int, list[dict[str, Any]]] = {size: [] for size in urls}
    try:
        for size, conn in conns.items():
            say(f"questions: {size:,}")
            for statement in SETUP:
                await conn.execute(statement)
            await add_questions(conn, 0, size)
        for i in range(args.repeat):
            # Alternate which size goes first so load drift on the machine hits both alike.
            for size in sorted(urls, reverse=i % 2 == 1):
                label = f"r{i}"
                figures = await measure(conns[size], urls[size], label, removable, args.candidates)
                say(
                    f"  round {i + 1}, {size:>12,} questions: cleanup {figures['cleanup_s']:.2f}s "
                    f"({figures['removed']} removed, skipped {figures['skipped']}), "
                    f"aggregate {figures['aggregate_s']:.2f}s, "
                    f"history probe {figures['probe_buffers']} buffers"
                )
                rounds[size].append(figures)
        sizes = {
            size: summarize(
                size, await conns[size].fetchval("SELECT count(*) FROM questions"), rounds[size]
            )
            for size in urls
        }
    finally:
        for conn in conns.values():
            await conn.close()
    small, large = sizes[args.small], sizes[args.large]
    return {
        "candidates": args.candidates,
        "repeat": args.repeat,
        "sizes": {str(size): figures for size, figures in sizes.items()},
        "cleanup_ratio": large["cleanup_s"] / small["cleanup_s"],
        "cleanup_median_ratio": large["cleanup_median_s"] / small["cleanup_median_s"],
        "aggregate_ratio": large["aggregate_s"] / small["aggregate_s"],
    }


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--candidates", type=int, default=5_000, help="retired models per run")
    parser.add_argument("--small", type=int, default=2_000_000, help="questions, first size")
    parser.add_argument("--large", type=int, default=10_000_000, help="questions, second size")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per size (best kept)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.small >= args.large:
        parser.error("--small must be below --large")

    server = load_settings().database_url.get_secret_value()
    tag = uuid.uuid4().hex[:8]
    names = {size: f"lifecycle_bench_cleanup_{tag}_{size}" for size in (args.small, args.large)}
    admin = await asyncpg.connect(asyncpg_dsn(with_database(server, "postgres")), timeout=10)
    try:
        try:
            urls = {}
            for size, name in names.items():
                await admin.execute(f'CREATE DATABASE "{name}"')
                urls[size] = with_database(server, name)
                await asyncio.to_thread(upgrade, urls[size])
            figures = await bench(args, urls)
        finally:
            for name in names.values():
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()

    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    lines = [f"\ncleanup of {args.candidates:,} retired models, {args.repeat} rounds per size:"]
    for size in (args.small, args.large):
        f = figures["sizes"][str(size)]
        lines.append(
            f"  {f['questions']:>12,} questions: cleanup best {f['cleanup_s']:.2f}s "
            f"(median {f['cleanup_median_s']:.2f}s), aggregate GROUP BY best "
            f"{f['aggregate_s']:.2f}s, history probe {f['probe_buffers']} buffers"
        )
    lines.append(
        f"  cleanup ratio {figures['cleanup_ratio']:.2f} best, "
        f"{figures['cleanup_median_ratio']:.2f} median (goal <= 1.2); "
        f"aggregate ratio {figures['aggregate_ratio']:.2f}"
    )
    say("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
