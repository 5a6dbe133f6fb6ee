"""Benchmark: deprecation enrichment of 5,000 models against litellm's full bundled map.

    .venv/bin/python benchmarks/enrichment.py [--models 5000] [--repeat 15]

Creates its own database ``lifecycle_bench_enrich_<random>`` on the configured server
(``LIFECYCLE_DATABASE_URL``), migrates it, fills it, measures, and drops it. Printed,
all from this one run:

- bare ``json.load`` of the bundled map file (median of ``--repeat``);
- the job's map load (``load_cost_map``: locate without importing litellm, read, parse);
- the whole job, first run (sets dates, flags past ones, writes events with usage) and
  steady state (the daily run when nothing changed), medians where repeated;
- ``import litellm`` in a fresh interpreter, as shipped and with
  ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (no network fetch);
- the job's two biggest pieces timed alone (reading the models; matching and deciding);
- each figure as a ratio to the bare ``json.load``. Goal: the job within 2x.

Measurements are interleaved (json.load, map load, job, repeat) so that load from other
processes on the machine affects each figure alike; medians and minimums are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from db.migrate import upgrade
from db.models import Assistant, LlmModel, Team
from db.queries.deprecation import enrichment_rows
from jobs.cost_map import bundled_map_path, load_cost_map
from jobs.deprecation import EnrichPayload, compute_enrichment, enrich_deprecations
from worker.app import build_runtime
from worker.devservices import with_database
from worker.health import asyncpg_dsn
from worker.settings import load_settings

# litellm_provider → (our provider, key prefix to strip) for building realistic models.
_OURS = {
    "openai": ("openai", "openai/"),
    "text-completion-openai": ("openai", "openai/"),
    "azure": ("azure", "azure/"),
    "anthropic": ("anthropic", "anthropic/"),
    "gemini": ("gemini", "gemini/"),
    "bedrock": ("bedrock", "bedrock/"),
    "bedrock_converse": ("bedrock", "bedrock/"),
    "mistral": ("mistral", "mistral/"),
    "cohere": ("cohere", "cohere/"),
    "cohere_chat": ("cohere", "cohere/"),
}


def models_from_map(entries: dict[str, Any], count: int) -> list[tuple[str, str]]:
    """``count`` distinct (provider, name) pairs: every map entry we can name, then
    made-up names that match nothing (they exercise the unmatched path)."""
    seen: dict[tuple[str, str], None] = {}
    for key, entry in entries.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("litellm_provider"), str):
            continue
        lp = entry["litellm_provider"]
        if lp.startswith("vertex_ai"):
            provider, prefix = "vertex_ai", "vertex_ai/"
        else:
            provider, prefix = _OURS.get(lp, (lp, f"{lp}/"))
        name = key.removeprefix(prefix)
        if " " in lp or not name or ("/" in name and provider in ("azure", "bedrock")):
            continue
        seen[(provider, name)] = None
        if len(seen) == count:
            break
    pairs = list(seen)
    pairs += [("openai", f"bench-unknown-{i}") for i in range(count - len(pairs))]
    return pairs


async def create_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def timed(fn: Callable[[], Any], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def timed_async(fn: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = await fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), result


def import_litellm_seconds(local_map: bool) -> str:
    env_prefix = (
        "import os; os.environ['LITELLM_LOCAL_MODEL_COST_MAP'] = 'True'; " if local_map else ""
    )
    code = (
        f"{env_prefix}import time; t = time.perf_counter(); import litellm; "
        "print(time.perf_counter() - t)"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, check=False
        )
    except subprocess.TimeoutExpired:
        return "timeout (>180 s)"
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}"
    return done.stdout.strip().splitlines()[-1]


async def fill(runtime: Any, pairs: list[tuple[str, str]], seed: int = 7) -> None:
    rng = random.Random(seed)
    async with runtime.engine.begin() as conn:
        teams = [uuid.uuid4() for _ in range(50)]
        await conn.execute(
            insert(Team.__table__),
            [{"id": t, "slug": f"t{i}", "name": f"T{i}"} for i, t in enumerate(teams)],
        )
        ids = [uuid.uuid4() for _ in pairs]
        rows = [
            {"id": i, "provider": p, "name": n, "display_name": n, "token_limit": 8192}
            for i, (p, n) in zip(ids, pairs, strict=True)
        ]
        for start in range(0, len(rows), 1000):
            await conn.execute(insert(LlmModel.__table__), rows[start : start + 1000])
        assistants = [
            {"team_id": rng.choice(teams), "name": f"a{k}", "llm_model_id": rng.choice(ids)}
            for k in range(5000)
        ]
        for start in range(0, len(assistants), 1000):
            await conn.execute(insert(Assistant.__table__), assistants[start : start + 1000])


async def breakdown(runtime: Any, entries: dict[str, Any], repeat: int) -> dict[str, float]:
    """Medians of the job's own pieces, each timed alone (they overlap inside the job)."""
    samples: dict[str, list[float]] = {"read models": [], "match and decide": []}
    today = datetime.now(UTC).date()
    for _ in range(repeat):
        async with runtime.sessions() as session:
            started = time.perf_counter()
            rows = await enrichment_rows(session)
            samples["read models"].append(time.perf_counter() - started)
        started = time.perf_counter()
        compute_enrichment(rows, entries, today, runtime.settings.retiring_window_days)
        samples["match and decide"].append(time.perf_counter() - started)
    return {k: statistics.median(v) for k, v in samples.items()}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    base = load_settings()
    url = base.database_url.get_secret_value()
    name = f"lifecycle_bench_enrich_{uuid.uuid4().hex[:10]}"
    admin_dsn = asyncpg_dsn(with_database(url, "postgres"))
    path = bundled_map_path()

    def bare_load() -> Any:
        with path.open("rb") as f:
            return json.load(f)

    entries = bare_load()

    await create_database(admin_dsn, name)
    try:
        db_url = with_database(url, name)
        await asyncio.to_thread(upgrade, db_url)
        runtime = build_runtime(load_settings(database_url=db_url))
        try:
            pairs = models_from_map(entries, args.models)
            await fill(runtime, pairs)

            async def run_job() -> dict[str, Any]:
                return await enrich_deprecations(runtime, EnrichPayload(trigger="manual"))

            first_s, first = await timed_async(run_job, 1)
            # Interleaved, so that load from other processes hits every figure alike.
            json_samples, map_samples, job_samples = [], [], []
            for _ in range(args.repeat):
                json_samples.append(timed(bare_load, 1))
                map_samples.append(timed(load_cost_map, 1))
                seconds, steady = await timed_async(run_job, 1)
                job_samples.append(seconds)
            json_s = statistics.median(json_samples)
            map_s = statistics.median(map_samples)
            steady_s = statistics.median(job_samples)
            parts = await breakdown(runtime, entries, args.repeat)
        finally:
            await runtime.engine.dispose()
    finally:
        await drop_database(admin_dsn, name)

    shipped = import_litellm_seconds(local_map=False)
    local = import_litellm_seconds(local_map=True)

    def ratio(seconds: float, base: float = json_s) -> str:
        return f"{seconds / base:5.2f}x"

    print(f"cost map: {path} ({path.stat().st_size / 1e6:.1f} MB, {len(entries)} entries)")
    print(
        f"models: {len(pairs)} ({first['matched']} matched, {len(first['unmatched'])} unmatched); "
        f"first run: {len(first['dates_set'])} dates set, "
        f"{len(first['newly_deprecated'])} newly deprecated, {first['events']} events; "
        f"steady run: {len(steady['dates_set'])} dates set, {steady['events']} events"
    )
    json_min, map_min, job_min = min(json_samples), min(map_samples), min(job_samples)
    print(f"{'':40} {'median':>9} {'ratio':>7}   {'min':>9} {'ratio':>7}")
    rows = [
        ("bare json.load of the map file", json_s, json_min),
        ("map load (load_cost_map)", map_s, map_min),
        ("whole job, steady state", steady_s, job_min),
    ]
    for label, median, least in rows:
        print(
            f"{label:<40} {median * 1000:7.1f}ms {ratio(median)}   "
            f"{least * 1000:7.1f}ms {ratio(least, json_min)}"
        )
    print(f"{'whole job, first run (once)':<40} {first_s * 1000:7.1f}ms {ratio(first_s)}")
    for label, seconds in parts.items():
        print(f"{'  of which ' + label:<40} {seconds * 1000:7.1f}ms {ratio(seconds)}")
    for label, value in (
        ("import litellm (as shipped)", shipped),
        ("import litellm (local map)", local),
    ):
        try:
            seconds = float(value)
        except ValueError:
            print(f"{label:<40} {value}")
        else:
            print(f"{label:<40} {seconds * 1000:7.1f}ms {ratio(seconds)}")
    verdict = "met" if steady_s <= 2 * json_s else "NOT met"
    print(f"goal, steady-state job within 2x of json.load (medians, {args.repeat} runs): {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
