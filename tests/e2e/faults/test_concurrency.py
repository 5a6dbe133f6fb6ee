"""Two worker processes, 50 concurrent mixed requests over overlapping models, and a writer
that keeps adding live references and questions the way the main application does."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.platform.host import reference_host
from db.queries.references import usage_by_team
from jobs.events import Slug, request_event_key
from jobs.faults import is_transient
from jobs.runtime import Runtime
from tests.e2e.faults.harness import WorkerPool, wait_for
from worker.client import JobFailed, JobHandle, LifecycleClient
from worker.settings import Settings

pytestmark = pytest.mark.faults

COST_MAP = Path(__file__).resolve().parents[2] / "fixtures" / "cost_map_small.json"
# Named after cost-map entries (deprecated, retiring, future date, none) and plain names.
MODEL_NAMES = ("gpt-4", "gpt-4-32k", "gpt-4-vision-preview", "gpt-4o", "conc-a", "conc-b")
TEAMS = 4
PERMITTED_PER_TEAM = 2


@dataclass(frozen=True)
class Seeded:
    teams: list[uuid.UUID]
    models: list[uuid.UUID]


async def _seed(engine: AsyncEngine) -> Seeded:
    """Teams (two members may manage models, one may not), models with references of every
    kind, history, and two retired models for the cleanup (one still in history)."""
    async with engine.begin() as conn:
        teams = []
        for t in range(TEAMS):
            team = await conn.scalar(
                text("INSERT INTO teams (slug, name) VALUES (:s, :s) RETURNING id"),
                {"s": f"conc-{t}"},
            )
            teams.append(team)
            for u, perms in enumerate((["manage_models"], ["manage_models"], ["read"])):
                user = await conn.scalar(
                    text("INSERT INTO users (email, name) VALUES (:e, :e) RETURNING id"),
                    {"e": f"u{u}@conc{t}.test"},
                )
                await conn.execute(
                    text("INSERT INTO team_members VALUES (:t, :u, :p)"),
                    {"t": team, "u": user, "p": perms},
                )
        models = []
        for name in MODEL_NAMES:
            models.append(
                await conn.scalar(
                    text(
                        "INSERT INTO llm_models (provider, name, display_name, token_limit) "
                        "VALUES ('openai', :n, :n, 100000) RETURNING id"
                    ),
                    {"n": name},
                )
            )
        for name, used in (("conc-gone-unused", False), ("conc-gone-in-history", True)):
            gone = await conn.scalar(
                text(
                    "INSERT INTO llm_models (provider, name, display_name, token_limit, "
                    "deleted_at) VALUES ('openai', :n, :n, 1000, now()) RETURNING id"
                ),
                {"n": name},
            )
            if used:
                await conn.execute(
                    text("INSERT INTO questions (team_id, llm_model_id) VALUES (:t, :m)"),
                    {"t": teams[0], "m": gone},
                )
        for i, model in enumerate(models):
            for j, team in enumerate(teams):
                params = {"t": team, "m": model, "n": 8 + i + j, "tag": f"{i}-{j}"}
                for table in ("assistants", "apps", "services"):
                    await conn.execute(
                        text(
                            f"INSERT INTO {table} (team_id, name, llm_model_id) "
                            f"SELECT :t, :tag || '-' || g, :m FROM generate_series(1, :n) g"
                        ),
                        params,
                    )
                await conn.execute(
                    text(
                        "WITH s AS (INSERT INTO spaces (team_id, name) SELECT :t, :tag || g "
                        "FROM generate_series(1, 3) g RETURNING id) "
                        "INSERT INTO space_models SELECT id, :m FROM s"
                    ),
                    params,
                )
                await conn.execute(
                    text(_PIPELINE_SQL.format(source="CAST(:m_text AS text)")),
                    {**params, "m_text": str(model), "name": f"pipe-{i}-{j}"},
                )
                await conn.execute(
                    text(
                        "INSERT INTO questions (team_id, llm_model_id) "
                        "SELECT :t, :m FROM generate_series(1, 3)"
                    ),
                    params,
                )
    return Seeded(teams, models)


_PIPELINE_SQL = (
    "INSERT INTO pipelines (team_id, name, definition) VALUES (:t, :name, "
    "jsonb_build_object('nodes', jsonb_build_array(jsonb_build_object('id', 'n0', "
    "'type', 'llm', 'params', jsonb_build_object('llm_model_id', {source})))))"
)

# The main application's protocol: point a row at a model only while, under a share lock
# on the model row, it is neither migrated nor deleted.
_LIVE_MODEL = (
    "FROM llm_models WHERE id = :m AND migrated_to_model_id IS NULL AND deleted_at IS NULL"
)
WRITES = {
    "assistants": "INSERT INTO assistants (team_id, name, llm_model_id) "
    f"SELECT :t, :name, id {_LIVE_MODEL} FOR SHARE",
    "apps": f"INSERT INTO apps (team_id, name, llm_model_id) SELECT :t, :name, id {_LIVE_MODEL} "
    "FOR SHARE",
    "pipelines": "INSERT INTO pipelines (team_id, name, definition) SELECT :t, :name, "
    "jsonb_build_object('nodes', jsonb_build_array(jsonb_build_object('id', 'n0', "
    "'type', 'llm', 'params', jsonb_build_object('llm_model_id', CAST(id AS text))))) "
    f"{_LIVE_MODEL} FOR SHARE",
    "questions": "INSERT INTO questions (team_id, llm_model_id, prompt_tokens) "
    f"SELECT :t, id, 1 {_LIVE_MODEL} FOR SHARE",
}


async def _writer(engine: AsyncEngine, seeded: Seeded, stop: asyncio.Event) -> dict[str, int]:
    """Keep adding live references and questions until ``stop``; count what got in."""
    rng = random.Random(99)
    written = dict.fromkeys(WRITES, 0)
    refused = 0
    n = 0
    while not stop.is_set():
        n += 1
        kind = rng.choice(list(WRITES))
        params = {"t": rng.choice(seeded.teams), "m": rng.choice(seeded.models), "name": f"w{n}"}
        try:
            async with engine.begin() as conn:
                inserted = (await conn.execute(text(WRITES[kind]), params)).rowcount
        except DBAPIError as exc:
            if not is_transient(exc):
                raise
            continue  # deadlock or lock timeout: the application would retry
        if inserted:
            written[kind] += 1
        else:
            refused += 1
        await asyncio.sleep(0.005)
    return {**written, "refused (model retired)": refused}


def _requests(rng: random.Random, models: list[uuid.UUID]) -> list[tuple[str, dict[str, Any]]]:
    """27 migrations, 12 deletions, 6 enrichment and 5 cleanup runs, over the same models."""
    out: list[tuple[str, dict[str, Any]]] = []
    for _ in range(27):
        source, target = rng.sample(models, 2)
        out.append(
            (
                "migrate_model",
                {
                    "source": str(source),
                    "target": str(target),
                    "confirm_warnings": rng.random() < 0.6,
                },
            )
        )
    for _ in range(12):
        model, replacement = rng.sample(models, 2)
        out.append(
            (
                "delete_model",
                {
                    "model": str(model),
                    "replacement": str(replacement) if rng.random() < 0.6 else None,
                },
            )
        )
    out += [("enrich_deprecations", {"dry_run": False, "trigger": "manual"})] * 6
    out += [("cleanup_retired_models", {"dry_run": False, "trigger": "manual"})] * 5
    rng.shuffle(out)
    return out


async def _enqueue(client: LifecycleClient, job: str, payload: dict[str, Any]) -> JobHandle:
    key = f"conc-{uuid.uuid4()}"
    if job in ("migrate_model", "delete_model"):
        payload = {**payload, "requested_by": "faults", "request_key": key}
    return await client.enqueue(job, payload, key=key)


async def _live_refs_to_retired(conn: AsyncConnection) -> dict[str, Any]:
    retired = await conn.scalars(
        text(
            "SELECT id FROM llm_models "
            "WHERE migrated_to_model_id IS NOT NULL OR deleted_at IS NOT NULL"
        )
    )
    bad = {}
    for model_id in list(retired):
        usage = await usage_by_team(conn, model_id, reference_host().live())
        if usage:
            bad[str(model_id)] = {label: u.total for label, u in usage.items()}
    return bad


async def test_fifty_concurrent_mixed_requests_keep_every_invariant(
    e2e_settings: Settings,
    client: LifecycleClient,
    runtime: Runtime,
    worker_pool: Callable[..., WorkerPool],
) -> None:
    seeded = await _seed(runtime.engine)
    rng = random.Random(2026)
    pool = worker_pool(
        e2e_settings, LIFECYCLE_BATCH_SIZE="10", LIFECYCLE_COST_MAP_SOURCE=str(COST_MAP)
    )
    pool.start()
    pool.start()
    stop = asyncio.Event()
    writer = asyncio.create_task(_writer(runtime.engine, seeded, stop))
    requests = _requests(rng, seeded.models)
    handles = await asyncio.gather(*(_enqueue(client, job, p) for job, p in requests))
    assert all(h.created for h in handles)

    outcomes: list[tuple[str, Any]] = []
    try:
        for (job, _), handle in zip(requests, handles, strict=True):
            try:
                outcomes.append((job, await client.result(handle.job_id, timeout_s=180)))
            except JobFailed as exc:
                outcomes.append((job, exc))
    finally:
        stop.set()
        written = await writer

    async def queue_drained() -> bool:
        if await client.redis.zcard(e2e_settings.queue_name):
            return False
        async with runtime.engine.connect() as conn:
            pending = await conn.scalar(
                text("SELECT count(*) FROM lifecycle_events WHERE fanned_out_at IS NULL")
            )
        return pending == 0

    await wait_for(queue_drained, timeout_s=120, what="every fan-out", diagnostics=pool.logs)
    statuses = _summarise(outcomes)
    print(f"\n50 mixed requests: {statuses}; writer: {written}")

    async with runtime.engine.connect() as conn:
        # Every live reference points at a model that is neither migrated nor deleted.
        history = await _request_history(conn)
        assert await _live_refs_to_retired(conn) == {}, history
        # No model was hard-deleted while anything referred to it (JSON references have
        # no foreign key, so look at every reference kind, history and soft-deleted too).
        gone = list(
            await conn.scalars(
                text("SELECT model_id FROM audit_events WHERE action = 'model.hard_deleted'")
            )
        )
        assert gone, "the cleanup removed nothing: the check below would prove nothing"
        for model_id in gone:
            assert (
                await conn.scalar(
                    text("SELECT count(*) FROM llm_models WHERE id = :m"), {"m": model_id}
                )
                == 0
            )
            usage = await usage_by_team(
                conn, model_id, reference_host().references, include_not_live=True
            )
            assert usage == {}, f"hard-deleted {model_id} is still referenced: {usage}"
        dangling = await conn.scalar(
            text(
                "SELECT count(*) FROM pipelines p, jsonb_array_elements(p.definition->'nodes') n "
                "WHERE n->'params'->>'llm_model_id' IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                "llm_models m WHERE CAST(m.id AS text) = n->'params'->>'llm_model_id')"
            )
        )
        assert dangling == 0
        # No notification is duplicated, none is missing: per event, one per permitted
        # member of each affected team.
        per_event = (
            await conn.execute(
                text(
                    "SELECT e.id, e.slug, "
                    "(SELECT count(*) FROM notifications n WHERE n.event_id = e.id) AS sent, "
                    "(SELECT count(DISTINCT (n.team_id, n.user_id)) FROM notifications n "
                    " WHERE n.event_id = e.id) AS distinct_sent, "
                    "(SELECT count(*) FROM jsonb_each(e.payload) p JOIN team_members tm "
                    " ON CAST(tm.team_id AS text) = p.key "
                    " WHERE tm.permissions @> ARRAY['manage_models'] AND EXISTS ("
                    "   SELECT 1 FROM jsonb_each_text(p.value) c WHERE CAST(c.value AS int) > 0)"
                    ") AS expected "
                    "FROM lifecycle_events e"
                )
            )
        ).all()
        assert per_event, "no event was emitted"
        for row in per_event:
            assert row.sent == row.distinct_sent == row.expected, row
        # Every request has a final status; refusals carry their code, failures a reason.
        rows = (
            await conn.execute(
                text(
                    "SELECT id, request_key, kind, status, warnings, error FROM model_migrations "
                    "WHERE request_key LIKE 'conc-%'"
                )
            )
        ).all()
        assert len(rows) == sum(
            1 for job, _ in requests if job in ("migrate_model", "delete_model")
        )
        for row in rows:
            assert row.status in ("succeeded", "rejected", "failed"), row
            if row.status == "rejected":
                assert row.warnings, row
            if row.status == "failed":
                assert row.error, row
            if row.status == "succeeded":
                slug = Slug.MIGRATED if row.kind == "migration" else Slug.DELETED
                n = await conn.scalar(
                    text("SELECT count(*) FROM lifecycle_events WHERE dedup_key = :k"),
                    {"k": request_event_key(slug, row.id)},
                )
                assert n == 1, row
        unfinished = await conn.scalar(
            text("SELECT count(*) FROM lifecycle_runs WHERE status = 'running'")
        )
        assert unfinished == 0
        chains = await conn.scalar(
            text(
                "SELECT count(*) FROM llm_models a JOIN llm_models b "
                "ON b.id = a.migrated_to_model_id WHERE b.migrated_to_model_id IS NOT NULL"
            )
        )
        assert chains == 0
    for job, outcome in outcomes:
        if isinstance(outcome, JobFailed):
            assert job in ("migrate_model", "delete_model"), outcome
        elif job in ("migrate_model", "delete_model") and outcome["status"] == "rejected":
            assert outcome["codes"], outcome
    assert (
        statuses.get("migrate_model:succeeded", 0) + statuses.get("delete_model:succeeded", 0) > 0
    )


async def _request_history(conn: AsyncConnection) -> str:
    rows = await conn.execute(
        text(
            "SELECT r.kind, r.status, r.from_model_name, r.to_model_name, r.warnings, r.error, "
            "r.started_at, r.finished_at FROM model_migrations r ORDER BY r.started_at NULLS LAST"
        )
    )
    return "\n".join(str(tuple(r)) for r in rows)


def _summarise(outcomes: list[tuple[str, Any]]) -> dict[str, int]:
    summary: dict[str, int] = {}
    for job, outcome in outcomes:
        if isinstance(outcome, JobFailed):
            status = "failed"
        elif isinstance(outcome, dict):
            status = str(outcome.get("status", "done"))
        else:
            status = "done"
        summary[f"{job}:{status}"] = summary.get(f"{job}:{status}", 0) + 1
    return dict(sorted(summary.items()))
