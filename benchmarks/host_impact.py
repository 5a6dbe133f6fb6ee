"""Benchmark: what a running migration costs the main application's writes (issue 22).

While ``migrate_model`` moves ``--refs`` live references (the real worker in a child
process, exactly as ``benchmarks/migration.py`` runs it, on a clone of the same seeded
database), a main-application writer keeps saving configuration the way
``docs/integration.md`` tells the main application to: in one transaction it share-locks
the live model it points a row at (``db.queries.repointing.lock_live_model``), then
updates the row, then commits. It writes ``--rate`` times a second (default 50) in an
open loop: each write starts at its scheduled time on a connection of its own pool,
whatever the writes before it are doing, and its latency runs from that scheduled time to
its commit, so a write held up by another is counted as late, not skipped.

What it writes: ``--writer-rows`` rows (default 1,000) of the platform's first live
reference held in a plain column, found through the platform's mapping (``assistants`` on
the reference platform, ``assistants_openaiassistant`` on Open Chat Studio). Before the
clock, on each clone, a third model is added (through the worker's ``models`` view, as
catalog sync adds one) and those rows are moved onto it; the writer then points them, one
after another, at the migration's target and back at the third model, both live. It never
points a row at the source: such a row would be the migration's to sweep, and what is
measured here is the interference between the two (locks on the model rows, I/O, WAL,
CPU), not the migration moving the writer's rows.

Each run, on a fresh clone: the writer runs ``--idle`` seconds with no migration (its
idle latencies), then the job is started; writes scheduled between the job's start and its
end are its latencies during the migration. Their p99s and ratio are printed per run, for
each ``LIFECYCLE_BATCH_TARGET_MS`` in ``--targets`` (default 200, 500 and 2000; the job's
other settings come from the environment and ``--setting``), with the job's rows/s and
its batches' sizes. Batches are at most ``LIFECYCLE_BATCH_SIZE`` rows (5,000 by default):
a target above the time such a batch takes changes nothing. Runs go round the targets
``--repeat`` times; medians are reported.

    .venv/bin/python -m benchmarks.host_impact [--platform reference|open-chat-studio|both]
        [--refs N] [--teams N] [--questions N] [--rate N] [--idle S] [--targets MS ...]
        [--repeat N] [--setting LIFECYCLE_BATCH_SIZE=50000 ...]

Uses ``LIFECYCLE_DATABASE_URL``'s server and ``LIFECYCLE_REDIS_URL``; databases it creates
are named ``lifecycle_bench_mig_*`` and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from benchmarks.migration import PLATFORMS, BenchPlatform, Seeded, admin, run_child, seeded
from db.engine import make_engine, make_sessionmaker
from db.keys import HostId
from db.platform.host import Platform
from db.platform.mapping import platform_mapping
from db.queries.catalog import insert_models
from db.queries.reference_sql import id_params, live_row_sql, match_sql
from db.queries.repointing import lock_live_model
from db.reference import Reference, Shape
from worker.health import asyncpg_dsn
from worker.platform import layout_without_keys
from worker.settings import load_settings

WARM_UP_S = 2.0  # the writer's first seconds (connections opening) are not counted


def writer_reference(platform: Platform) -> Reference:
    """The platform's first live reference held in a plain column (no JSON copy)."""
    for ref in platform.live():
        if ref.shape is Shape.COLUMN and ref.json_copy is None:
            return ref
    raise SystemExit(f"{platform.name}: no live reference in a plain column to write to")


@dataclass
class Writer:
    """The main application's writes: rows of ``ref`` pointed at ``models`` in turn."""

    sessions: async_sessionmaker[AsyncSession]
    statement: Any
    keys: list[Any]
    models: tuple[HostId, HostId]  # the migration's target, a third live model
    samples: list[tuple[float, float]] = field(default_factory=list)  # (scheduled, latency)
    failures: list[str] = field(default_factory=list)

    async def write(self, n: int, scheduled: float, wall: float) -> None:
        """Write ``n``: the ``n``-th row, onto the model of its pass, by the protocol."""
        key = self.keys[n % len(self.keys)]
        model = self.models[(n // len(self.keys)) % 2]
        try:
            async with self.sessions() as session, session.begin():
                if not await lock_live_model(session, model):
                    raise RuntimeError(f"model {model} is not live")
                await session.execute(self.statement, {"model": model, "key": key})
        except Exception as exc:  # reported at the end of the run
            self.failures.append(f"{type(exc).__name__}: {exc}"[:300])
            return
        self.samples.append((wall, time.perf_counter() - scheduled))

    async def run(self, rate: float, stop: asyncio.Event) -> None:
        """Start a write every ``1 / rate`` seconds until ``stop``; wait for those started."""
        interval = 1 / rate
        begun = time.perf_counter()
        begun_wall = time.time()
        tasks: set[asyncio.Task[None]] = set()
        n = 0
        while not stop.is_set():
            due = begun + n * interval
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            task = asyncio.create_task(self.write(n, due, begun_wall + n * interval))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        await asyncio.gather(*tasks)

    def latencies(self, start: float, end: float) -> list[float]:
        """Latencies (ms) of the writes scheduled between wall-clock ``start`` and ``end``."""
        return [lat * 1000 for wall, lat in self.samples if start <= wall <= end]


async def prepare_writer(db: Seeded, url: str, rows: int) -> tuple[Writer, Any, Reference]:
    """On the clone at ``url``: a third model, ``rows`` rows of the writer's reference moved
    onto it, and the writer (its engine is the second value, for disposal)."""
    mapping = platform_mapping(db.platform.mapping_file)
    platform = Platform(mapping)
    ref = writer_reference(platform)
    settings = load_settings(database_url=url, platform_file=db.platform.mapping_file)
    engine = make_engine(
        url,
        pool_size=10,
        application_name="bench-writer",
        layout=layout_without_keys(settings, mapping),
    )
    sessions = make_sessionmaker(engine)
    table, key = platform.qualified(ref.table), ref.key_column
    async with sessions() as session, session.begin():
        ids = await insert_models(
            session,
            [
                {
                    "provider": "openai",
                    "name": "bench-writer",
                    "display_name": "Writer",
                    "token_limit": 8000,
                }
            ],
        )
        third = ids[("openai", "bench-writer")]
        picked = await session.execute(
            text(
                f"SELECT t.{key} FROM {table} t WHERE {match_sql(ref, 't', 'source')} "
                f"AND {live_row_sql(ref, 't')} ORDER BY t.{key} DESC LIMIT :rows"
            ),
            {**id_params(ref, "source", db.a), "rows": rows},
        )
        keys = list(picked.scalars())
        await session.execute(
            text(f"UPDATE {table} SET {ref.column} = :model WHERE {key} = ANY(:keys)"),
            {"model": third, "keys": keys},
        )
    statement = text(f"UPDATE {table} SET {ref.column} = :model WHERE {key} = :key")
    return Writer(sessions, statement, keys, (db.b, third)), engine, ref


def setting(given: str) -> tuple[str, str]:
    """``--setting LIFECYCLE_X=VALUE`` as a pair."""
    name, sep, value = given.partition("=")
    if not sep or not name.startswith("LIFECYCLE_"):
        raise argparse.ArgumentTypeError(f"expected LIFECYCLE_NAME=VALUE, got {given!r}")
    return name, value


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


async def batch_sizes(url: str, schema: str) -> tuple[int, int, int]:
    """The job's batches on the clone: how many, median and largest rows per batch."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        row = await conn.fetchrow(
            f'SELECT count(*) AS n, percentile_disc(0.5) WITHIN GROUP (ORDER BY "rows") AS med, '
            f'max("rows") AS top FROM "{schema}".model_migration_batches'
        )
        return int(row["n"]), int(row["med"] or 0), int(row["top"] or 0)
    finally:
        await conn.close()


async def one_run(
    db: Seeded, target_ms: int, args: argparse.Namespace, label: str
) -> dict[str, Any]:
    """A fresh clone; the writer idle, then during the job run with ``target_ms``."""
    url = await db.clone(f"{db.name}_host")
    writer, engine, ref = await prepare_writer(db, url, args.writer_rows)
    await admin("CHECKPOINT")
    stop = asyncio.Event()
    writing = asyncio.create_task(writer.run(args.rate, stop))
    try:
        idle_from = time.time() + WARM_UP_S
        await asyncio.sleep(WARM_UP_S + args.idle)
        idle_to = time.time()
        settings = {**dict(args.setting), "LIFECYCLE_BATCH_TARGET_MS": str(target_ms)}
        job = await asyncio.to_thread(run_child, db.platform, url, db.a, db.b, settings)
    finally:
        stop.set()
        await writing
        await engine.dispose()
    if writer.failures:
        raise SystemExit(f"{label}: {len(writer.failures)} writes failed: {writer.failures[0]}")
    if job["status"] != "succeeded":
        raise SystemExit(f"{label}: the job ended {job['status']}")
    idle = writer.latencies(idle_from, idle_to)
    during = writer.latencies(job["started_at"], job["ended_at"])
    moved = sum(job["counts"].values())
    batches, median_rows, top_rows = await batch_sizes(url, load_settings().worker_schema)
    return {
        "writer_label": ref.label,
        "idle_n": len(idle),
        "during_n": len(during),
        "idle_p50": statistics.median(idle),
        "idle_p99": p99(idle),
        "during_p50": statistics.median(during),
        "during_p99": p99(during),
        "during_max": max(during),
        "ratio": p99(during) / p99(idle),
        "job_s": job["seconds"],
        "rows_per_s": moved / job["seconds"],
        "moved": moved,
        "batches": batches,
        "median_rows": median_rows,
        "top_rows": top_rows,
    }


def show(r: dict[str, Any]) -> str:
    return (
        f"writer p99 idle {r['idle_p99']:6.1f} ms ({r['idle_n']} writes, p50 "
        f"{r['idle_p50']:.1f})  during {r['during_p99']:6.1f} ms ({r['during_n']} writes, "
        f"p50 {r['during_p50']:.1f}, max {r['during_max']:.0f})  ratio {r['ratio']:5.2f}  |  "
        f"job {r['job_s']:6.2f} s, {r['rows_per_s']:8.0f} rows/s, {r['batches']} batches "
        f"(median {r['median_rows']} rows, largest {r['top_rows']})"
    )


async def run_platform(platform: BenchPlatform, args: argparse.Namespace) -> None:
    questions = args.questions if platform.name == "reference" else 0
    print(
        f"{platform.name}: {args.refs} refs over {args.teams} teams, {questions} question "
        f"rows; writer {args.rate:g} writes/s over {args.writer_rows} rows",
        flush=True,
    )
    results: dict[int, list[dict[str, Any]]] = {t: [] for t in args.targets}
    async with seeded(platform, args.refs, args.teams, questions) as db:
        print(f"  built in {db.build_s:.0f} s", flush=True)
        for run in range(1, args.repeat + 1):
            for target_ms in args.targets:
                label = f"{platform.name}, target {target_ms} ms, run {run}"
                r = await one_run(db, target_ms, args, label)
                results[target_ms].append(r)
                print(f"  target {target_ms:>5} ms run {run}: {show(r)}", flush=True)
    writes_to = results[args.targets[0]][0]["writer_label"]
    print(f"  {platform.name} (writer on {writes_to}), medians of {args.repeat} run(s):")
    for target_ms, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in ("idle_p99", "during_p99")}
        ratios = [r["ratio"] for r in runs]
        print(
            f"    LIFECYCLE_BATCH_TARGET_MS={target_ms:<5} rows/s "
            f"{statistics.median(r['rows_per_s'] for r in runs):8.0f}  job "
            f"{statistics.median(r['job_s'] for r in runs):6.2f} s  writer p99 idle "
            f"{med['idle_p99']:6.1f} ms, during {med['during_p99']:6.1f} ms  ratio "
            f"{statistics.median(ratios):5.2f} (each run: {', '.join(f'{x:.2f}' for x in ratios)};"
            f" goal <= 2)",
            flush=True,
        )


async def main(args: argparse.Namespace) -> None:
    settings = load_settings(**{k.removeprefix("LIFECYCLE_").lower(): v for k, v in args.setting})
    print(
        f"host impact of migrate_model (batch size {settings.batch_min}..{settings.batch_size}"
        f" rows, pause {settings.batch_pause_ms} ms)"
    )
    names = list(PLATFORMS) if args.platform == "both" else [args.platform]
    for name in names:
        await run_platform(PLATFORMS[name], args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--platform", choices=[*PLATFORMS, "both"], default="reference", help="host schema(s)"
    )
    parser.add_argument("--refs", type=int, default=500_000)
    parser.add_argument("--teams", type=int, default=10_000)
    parser.add_argument(
        "--questions", type=int, default=2_000_000, help="history rows (reference only)"
    )
    parser.add_argument("--rate", type=float, default=50, help="writes per second")
    parser.add_argument("--writer-rows", type=int, default=1000, help="rows the writer writes")
    parser.add_argument("--idle", type=float, default=20, help="seconds measured idle")
    parser.add_argument("--targets", type=int, nargs="+", default=[200, 500, 2000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per target (medians shown)")
    parser.add_argument(
        "--setting",
        type=setting,
        action="append",
        default=[],
        metavar="LIFECYCLE_X=VALUE",
        help="a setting for the job's worker, e.g. LIFECYCLE_BATCH_PAUSE_MS=100 (repeatable)",
    )
    asyncio.run(main(parser.parse_args()))
