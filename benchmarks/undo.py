"""Benchmark: ``undo_request`` of a large migration against a raw reverse ``UPDATE``.

On each host platform the migration benchmark covers (``--platform reference``,
``--platform open-chat-studio`` or ``both``, the default): a database seeded as
``benchmarks/migration_reference.py`` or ``benchmarks/migration_ocs.py`` seeds it
(``--refs`` live references over ``--teams`` teams), migrated source → target by the real
request (``run_request``, journaling every row it moves). The migrated database is cloned
twice (``CREATE DATABASE … TEMPLATE``, a ``CHECKPOINT`` before each timed contender):

- *undo*: ``undo_request`` called in-process (what the ``undo_request`` job runs): the
  source's mark cleared, every journaled row put back where it still holds what the
  request wrote (model column and parameters as they were, pipeline definitions and
  node params as they were), in batches of ``LIFECYCLE_BATCH_SIZE`` rows, each its own
  transaction, then the request ended ``undone`` with audit and event;
- *raw*: the hand-written reverse in one transaction: one ``UPDATE`` per reference
  setting the model back on the rows the migration moved (the JSON ids rewritten), the
  source's mark cleared.

Both end states are checked: every live reference on the source again, none on the target.

    .venv/bin/python -m benchmarks.undo [--platform P] [--refs N] [--teams N] [--repeat N]

Uses ``LIFECYCLE_DATABASE_URL``'s server; databases it creates are named
``lifecycle_bench_undo_*`` and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from benchmarks import migration_ocs as ocs
from benchmarks import migration_reference as ref
from benchmarks.migration import admin
from jobs.request_admission import Request
from jobs.request_execution import run_request
from jobs.request_result import UndoResult
from jobs.runtime import Runtime
from jobs.undo import UndoRequestPayload, undo_request
from worker.app import build_runtime
from worker.devservices import with_database
from worker.health import asyncpg_dsn
from worker.settings import load_settings

RAW_REVERSE = """
UPDATE assistants SET llm_model_id = $1 WHERE llm_model_id = $2;
UPDATE apps SET llm_model_id = $1 WHERE llm_model_id = $2;
UPDATE services SET llm_model_id = $1 WHERE llm_model_id = $2;
UPDATE templates SET llm_model_id = $1 WHERE llm_model_id = $2 AND deleted_at IS NULL;
"""


async def raw_reverse_reference(dsn: str, a: uuid.UUID, b: uuid.UUID) -> float:
    """The reverse of the migration by hand, in one transaction; seconds."""
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        async with conn.transaction():
            for statement in RAW_REVERSE.strip().splitlines():
                await conn.execute(statement, a, b)
            await conn.execute(ref.RAW_PIPELINES, str(b), str(a))
            await conn.execute(
                "UPDATE llm_models SET migrated_to_model_id = NULL, updated_at = now() "
                "WHERE id = $1",
                a,
            )
        return time.perf_counter() - started
    finally:
        await conn.close()


async def on_source_reference(dsn: str, a: Any, b: Any) -> tuple[dict[str, int], int]:
    """Live references per table on the source, and how many are left on the target."""
    back = await ref.end_state(dsn, b, a)
    left = await ref.end_state(dsn, a, b)
    tables = ("assistants", "apps", "services", "templates", "pipelines")
    return {t: back[t] for t in tables}, sum(left[t] for t in tables)


def expected_reference(refs: int) -> dict[str, int]:
    return ref.rows_per_table(refs)


async def raw_reverse_ocs(dsn: str, a: int, b: int) -> float:
    """The migration's own statements from target back to source (a node's JSON copy
    written as a number), the source's mark cleared, in one transaction; seconds."""
    unmark = (
        f'UPDATE "{load_settings().worker_schema}".model_state '
        "SET migrated_to_model_id = NULL, updated_at = now() WHERE model_id = $1"
    )
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        async with conn.transaction():
            for statement in ocs.RAW_MIGRATION:
                await conn.execute(statement, b, a)
            await conn.execute(unmark, a)
        return time.perf_counter() - started
    finally:
        await conn.close()


# Counted by column: the raw reverse writes every JSON copy as a number, the undo puts
# back the one in ten written as a string.
OCS_LABELS = [label for label in ocs.LIVE_ON if label != "pipeline_nodes_json"]


async def on_source_ocs(dsn: str, a: Any, b: Any) -> tuple[dict[str, int], int]:
    """Live references per label on the source, and how many are left on the target
    (columns and JSON copies)."""
    state = await ocs.end_state(dsn, b, a)  # "live_on_source" of b: left on the target
    return {label: state[label] for label in OCS_LABELS}, state["live_on_source"]


def expected_ocs(refs: int) -> dict[str, int]:
    expected = ocs.expected_state(refs)
    return {label: expected[label] for label in OCS_LABELS}


@dataclass(frozen=True)
class UndoPlatform:
    """How the benchmark builds, reverses by hand and inspects one host platform."""

    name: str
    mapping_file: Path | None  # the platform file the worker runs with (None: reference)
    build: Callable[[str, int, int, int], Awaitable[tuple[Any, Any]]]
    raw_reverse: Callable[[str, Any, Any], Awaitable[float]]
    on_source: Callable[[str, Any, Any], Awaitable[tuple[dict[str, int], int]]]
    expected: Callable[[int], dict[str, int]]


PLATFORMS = {
    "reference": UndoPlatform(
        "reference",
        None,
        ref.build,
        raw_reverse_reference,
        on_source_reference,
        expected_reference,
    ),
    "open-chat-studio": UndoPlatform(
        "open-chat-studio",
        ocs.MAPPING,
        ocs.build,
        raw_reverse_ocs,
        on_source_ocs,
        expected_ocs,
    ),
}


def runtime_for(platform: UndoPlatform, url: str) -> Runtime:
    return build_runtime(load_settings(database_url=url, platform_file=platform.mapping_file))


async def timed_undo(platform: UndoPlatform, url: str, key: str) -> tuple[float, UndoResult]:
    runtime = runtime_for(platform, url)
    try:
        started = time.perf_counter()
        result = await undo_request(
            runtime, UndoRequestPayload(request_key=key, requested_by="bench")
        )
        return time.perf_counter() - started, result
    finally:
        await runtime.engine.dispose()


async def measure(platform: UndoPlatform, refs: int, teams: int, repeat: int) -> dict[str, Any]:
    base = load_settings().database_url.get_secret_value()
    tag = uuid.uuid4().hex[:8]
    src = f"lifecycle_bench_undo_{tag}"
    clones = [f"{src}_undo", f"{src}_raw"]
    await admin(f'CREATE DATABASE "{src}"')
    try:
        url = with_database(base, src)
        a, b = await platform.build(url, refs, teams, 0)
        key = f"bench-{uuid.uuid4()}"
        runtime = runtime_for(platform, url)
        try:
            started = time.perf_counter()
            request = Request("migration", str(a), str(b), "bench", key, True)
            migrated = await run_request(runtime, request)
            migrate_s = time.perf_counter() - started
        finally:
            await runtime.engine.dispose()
        assert migrated.status == "succeeded", migrated
        expected = platform.expected(refs)
        undo_s, raw_s = [], []
        for run in range(1, repeat + 1):
            for clone in clones:
                await admin(f'DROP DATABASE IF EXISTS "{clone}" WITH (FORCE)')
                await admin(f'CREATE DATABASE "{clone}" TEMPLATE "{src}"')
            undo_url, raw_url = (with_database(base, c) for c in clones)
            await admin("CHECKPOINT")
            raw_s.append(await platform.raw_reverse(asyncpg_dsn(raw_url), a, b))
            await admin("CHECKPOINT")
            seconds, result = await timed_undo(platform, undo_url, key)
            undo_s.append(seconds)
            for contender, dsn in (("raw", raw_url), ("undo", undo_url)):
                back, left = await platform.on_source(asyncpg_dsn(dsn), a, b)
                if back != expected or left:
                    raise SystemExit(f"the {contender} run left {back} (+{left} on the target)")
            if result.status != "undone" or result.changed_since:
                raise SystemExit(f"the undo answered {result}")
            print(f"    run {run}: raw {raw_s[-1]:.2f} s, undo {seconds:.2f} s", flush=True)
        return {
            "refs": refs,
            "migrate_s": migrate_s,
            "undo_s": statistics.median(undo_s),
            "raw_s": statistics.median(raw_s),
            "ratios": [u / r for u, r in zip(undo_s, raw_s, strict=True)],
        }
    finally:
        for name in (*clones, src):
            await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main(args: argparse.Namespace) -> None:
    settings = load_settings()
    print(f"undo_request vs raw reverse UPDATE  (batch size {settings.batch_size})", flush=True)
    names = list(PLATFORMS) if args.platform == "both" else [args.platform]
    for name in names:
        print(f"{name}: {args.teams} teams", flush=True)
        r = await measure(PLATFORMS[name], args.refs, args.teams, args.repeat)
        print(
            f"  {r['refs']} refs (migrated in {r['migrate_s']:.1f} s): "
            f"undo {r['undo_s']:.2f} s, raw {r['raw_s']:.2f} s, "
            f"ratio {r['undo_s'] / r['raw_s']:.2f} "
            f"(each run: {', '.join(f'{x:.2f}' for x in r['ratios'])}; goal <= 1.5)",
            flush=True,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", choices=[*PLATFORMS, "both"], default="both")
    parser.add_argument("--refs", type=int, default=500_000)
    parser.add_argument("--teams", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs (medians shown)")
    asyncio.run(main(parser.parse_args()))
