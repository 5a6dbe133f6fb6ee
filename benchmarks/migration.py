"""Benchmark: ``migrate_model`` end to end against a raw-SQL re-pointing baseline.

Runs on each host platform the worker ships a mapping for (``--platform``, default both):

- *reference*: the built-in schema (UUID keys), built by ``upgrade``; ``--refs`` live
  references (40 % assistants, 20 % apps, 20 % services, 10 % templates, 10 % pipeline
  definitions) plus soft-deleted templates and ``--questions`` history rows
  (``benchmarks/migration_reference.py``);
- *open-chat-studio*: the Open Chat Studio-shaped schema (bigint keys, Django's deferred
  foreign keys) with its rows, then the worker's schema added by ``upgrade`` with the
  shipped mapping; ``--refs`` live references (40 % pipeline nodes with the id's JSON copy,
  20 % assistants, 20 % transcript analyses in two columns, 10 % evaluators, 10 %
  collections) plus archived nodes and assistants (``benchmarks/migration_ocs.py``).

References spread over ``--teams`` teams. The seeded database is cloned
(``CREATE DATABASE … TEMPLATE``) so both contenders start from identical data (each
repetition on fresh clones, with a ``CHECKPOINT`` before each timed contender; medians
are reported):

- *job*: the real worker — the job is enqueued with the client and run by an arq
  ``Worker`` in a child process (so its peak RSS is its own; ``LIFECYCLE_PLATFORM_FILE``
  set on Open Chat Studio), batches of ``LIFECYCLE_BATCH_SIZE`` rows, each its own
  transaction, counts, audit, outbox event;
- *raw*: the hand-written equivalent for that schema in one transaction: one ``UPDATE``
  per reference (a pipeline node's column and JSON copy in the same one; archived rows
  left alone) and the source marked migrated (the model row on the reference platform,
  the worker's ``model_state`` on Open Chat Studio).

Both end states are checked against the one the seed calls for: live references on the
target, none left on the source, archived rows still on it, the source marked. Peak
memory is measured at 100k and at the full size (``--memory-sizes``) to show it stays
flat.

    .venv/bin/python -m benchmarks.migration [--platform reference|open-chat-studio|both]
        [--refs N] [--teams N] [--questions N] [--repeat N]

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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from benchmarks import migration_ocs, migration_reference
from worker.devservices import with_database
from worker.health import asyncpg_dsn
from worker.settings import load_settings


@dataclass(frozen=True)
class BenchPlatform:
    """How the benchmark builds, migrates by hand and inspects one host platform."""

    name: str
    mapping_file: Path | None  # the job's LIFECYCLE_PLATFORM_FILE (None: reference)
    build: Callable[[str, int, int, int], Awaitable[tuple[Any, Any]]]
    expected_state: Callable[[int], dict[str, int]]
    raw_migration: Callable[[str, Any, Any], Awaitable[float]]
    end_state: Callable[[str, Any, Any], Awaitable[dict[str, int]]]


PLATFORMS = {
    "reference": BenchPlatform(
        "reference",
        None,
        migration_reference.build,
        migration_reference.expected_state,
        migration_reference.raw_migration,
        migration_reference.end_state,
    ),
    "open-chat-studio": BenchPlatform(
        "open-chat-studio",
        migration_ocs.MAPPING,
        migration_ocs.build,
        migration_ocs.expected_state,
        migration_ocs.raw_migration,
        migration_ocs.end_state,
    ),
}


async def child(url: str, source: str, target: str) -> dict[str, Any]:
    """Run the job through the client and a running arq worker; report time and peak RSS.

    The worker is started (and its start-up finished) before the clock starts: a deployed
    worker is already running when a migration is requested. A worker that refuses to
    start (its platform check) ends the run with the worker's own error. litellm, which
    translates model parameters, is imported before the clock too: a worker imports it
    once, on its first migration (its seconds are reported as ``translator_import_s``).
    ``started_at``/``ended_at`` are the wall-clock bounds of the timed part.
    """
    from jobs.parameters import load_translator
    from worker.app import make_worker
    from worker.client import LifecycleClient

    settings = load_settings(database_url=url, queue_name=f"bench:{uuid.uuid4().hex[:8]}")
    key = f"bench-{uuid.uuid4()}"
    async with LifecycleClient(settings) as client:
        worker = make_worker(settings, poll_delay=0.02, handle_signals=False)
        running = asyncio.create_task(worker.async_run())
        warm = await client.enqueue("ping", {}, key=f"warm-{key}")
        warmed = asyncio.create_task(client.result(warm.job_id, timeout_s=60))
        await asyncio.wait({running, warmed}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            warmed.cancel()
            running.result()  # raises the worker's start-up error
        await warmed
        began_import = time.perf_counter()
        await load_translator()
        translator_import_s = time.perf_counter() - began_import
        started_at = time.time()
        started = time.perf_counter()
        handle = await client.migrate_model(
            source, target, requested_by="bench", request_key=key, confirm_warnings=True
        )
        result = await client.result(handle.job_id, timeout_s=3600, poll_s=0.02)
        elapsed = time.perf_counter() - started
        ended_at = time.time()
        # Peak memory is read once the worker is idle again: the migration's fan-out (one
        # notification batch per affected team) runs in the same worker right after it.
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            pending = True
            while pending:
                await asyncio.sleep(0.1)
                pending = await conn.fetchval(
                    f'SELECT count(*) > 0 FROM "{settings.worker_schema}".lifecycle_events '
                    "WHERE fanned_out_at IS NULL"
                )
        finally:
            await conn.close()
        running.cancel()
        await worker.close()
    return {
        "seconds": elapsed,
        "started_at": started_at,
        "ended_at": ended_at,
        "translator_import_s": translator_import_s,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "status": result["status"],
        "counts": result["counts"],
    }


def run_child(
    platform: BenchPlatform,
    url: str,
    a: object,
    b: object,
    settings: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The job on ``url`` in a child process configured for ``platform`` (and with the
    ``LIFECYCLE_*`` ``settings`` given, e.g. ``{"LIFECYCLE_BATCH_TARGET_MS": "200"}``)."""
    env = {**os.environ, **(settings or {})}
    env.pop("LIFECYCLE_PLATFORM_FILE", None)
    if platform.mapping_file is not None:
        env["LIFECYCLE_PLATFORM_FILE"] = str(platform.mapping_file)
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.migration", "--child", url, str(a), str(b)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise SystemExit(f"the job run on {platform.name} failed:\n{done.stderr[-4000:]}")
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


async def check_end_state(
    platform: BenchPlatform, contender: str, url: str, a: object, b: object, refs: int
) -> None:
    """Stop the run unless ``contender`` left the end state the seed calls for."""
    found = await platform.end_state(asyncpg_dsn(url), a, b)
    expected = platform.expected_state(refs)
    if found != expected:
        raise SystemExit(f"{platform.name}: the {contender} run left {found}, expected {expected}")


@dataclass
class Seeded:
    """A database built and seeded for ``platform``, the template its clones are made of."""

    platform: BenchPlatform
    base: str  # the configured database URL (only its server is used)
    name: str
    a: Any  # the source model's id
    b: Any  # the target model's id
    build_s: float
    clones: list[str] = field(default_factory=list)

    async def clone(self, name: str) -> str:
        """A fresh copy of the seeded database named ``name`` (replacing one left from an
        earlier run): its URL. Dropped with the seeded database."""
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"')
        if name not in self.clones:
            self.clones.append(name)
        return with_database(self.base, name)


@asynccontextmanager
async def seeded(
    platform: BenchPlatform, refs: int, teams: int, questions: int
) -> AsyncIterator[Seeded]:
    """Build and seed a ``lifecycle_bench_mig_*`` database; it and its clones are dropped
    on the way out."""
    base = load_settings().database_url.get_secret_value()
    src = f"lifecycle_bench_mig_{uuid.uuid4().hex[:8]}"
    await admin(f'CREATE DATABASE "{src}"')
    clones: list[str] = []
    try:
        t0 = time.perf_counter()
        a, b = await platform.build(with_database(base, src), refs, teams, questions)
        db = Seeded(platform, base, src, a, b, time.perf_counter() - t0, clones)
        yield db
    finally:
        for name in (*clones, src):
            await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def measure(
    platform: BenchPlatform, refs: int, teams: int, questions: int, repeat: int
) -> dict[str, Any]:
    """Build and seed once, then ``repeat`` times: clone twice, run the raw baseline on one
    clone and the job on the other. Medians of the repetitions are reported."""
    async with seeded(platform, refs, teams, questions) as db:
        a, b = db.a, db.b
        job_s, raw_s, rss, imports, moved = [], [], [], [], 0
        for run in range(1, repeat + 1):
            job_url = await db.clone(f"{db.name}_job")
            raw_url = await db.clone(f"{db.name}_raw")
            # Cloning writes both copies through the WAL; a checkpoint before each timed
            # contender keeps the flush of that backlog out of either measurement.
            await admin("CHECKPOINT")
            raw_s.append(await platform.raw_migration(asyncpg_dsn(raw_url), a, b))
            await check_end_state(platform, "raw", raw_url, a, b, refs)
            print(f"    run {run}: raw {raw_s[-1]:.2f} s, end state as expected", flush=True)
            await admin("CHECKPOINT")
            job = await asyncio.to_thread(run_child, platform, job_url, a, b)
            await check_end_state(platform, "job", job_url, a, b, refs)
            job_s.append(job["seconds"])
            rss.append(job["max_rss_mb"])
            imports.append(job["translator_import_s"])
            moved = sum(job["counts"].values())
        job_med, raw_med = statistics.median(job_s), statistics.median(raw_s)
        return {
            "refs": refs,
            "build_s": db.build_s,
            "job_s": job_med,
            "raw_s": raw_med,
            "ratio": job_med / raw_med,
            "ratios": [j / r for j, r in zip(job_s, raw_s, strict=True)],
            "max_rss_mb": max(rss),
            "translator_import_s": statistics.median(imports),
            "rows_moved": moved,
        }


async def run_platform(platform: BenchPlatform, args: argparse.Namespace) -> None:
    """Every size on ``platform``, printed as it is measured, then its job/raw ratio."""
    questions = args.questions if platform.name == "reference" else 0
    print(f"{platform.name}: {args.teams} teams, {questions} question rows", flush=True)
    sizes = sorted({*args.memory_sizes, args.refs})
    results = []
    for refs in sizes:
        r = await measure(platform, refs, args.teams, questions, args.repeat)
        results.append(r)
        print(
            f"  {r['refs']:>8} refs: job {r['job_s']:7.2f} s  raw {r['raw_s']:7.2f} s  "
            f"ratio {r['ratio']:5.2f} (each run: {', '.join(f'{x:.2f}' for x in r['ratios'])})  "
            f"worker peak RSS {r['max_rss_mb']:6.1f} MB  "
            f"(moved {r['rows_moved']}, built in {r['build_s']:.0f} s; litellm's import "
            f"before the clock {r['translator_import_s']:.1f} s)",
            flush=True,
        )
    rss = [r["max_rss_mb"] for r in results]
    full = results[-1]
    print(
        f"  peak RSS across sizes: {', '.join(f'{x:.1f}' for x in rss)} MB "
        f"(growth {rss[-1] - rss[0]:+.1f} MB)\n"
        f"  ratio at {full['refs']} refs: {full['ratio']:.2f} as median job / median raw, "
        f"{statistics.median(full['ratios']):.2f} as the median of each run's job/raw "
        f"(goal <= 1.5)",
        flush=True,
    )


async def main(args: argparse.Namespace) -> None:
    settings = load_settings()
    print(f"migrate_model vs raw SQL  (batch size {settings.batch_size})")
    names = list(PLATFORMS) if args.platform == "both" else [args.platform]
    for name in names:
        await run_platform(PLATFORMS[name], args)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(asyncio.run(child(*sys.argv[2:5]))))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--platform", choices=[*PLATFORMS, "both"], default="both", help="host schema(s)"
    )
    parser.add_argument("--refs", type=int, default=500_000)
    parser.add_argument("--teams", type=int, default=10_000)
    parser.add_argument(
        "--questions", type=int, default=2_000_000, help="history rows (reference only)"
    )
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[100_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (medians shown)")
    asyncio.run(main(parser.parse_args()))
