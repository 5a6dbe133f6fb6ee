"""The migration benchmark on Open Chat Studio: its database, seed and raw SQL.

The database is built as an Open Chat Studio deployment builds it: the host's tables
(``tests/platforms/open_chat_studio.sql``, as Django creates them) and its rows come
first; then the worker's schema is added by ``upgrade`` with the layout the platform
check reads from that database and the shipped mapping. ``refs`` live references to one
source model: 40 % pipeline nodes (the id in a column and, as a JSON number — a string in
one row in ten — in ``params``), 20 % assistants, 20 % transcript-analysis references
(rows naming the source in both columns), 10 % evaluators, 10 % collections; archived
nodes and assistants (5 % and 2 % of ``refs``) still on the source are left alone.
Identities are never given explicit values, so every sequence stays ahead of its rows.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg

from db.migrate import upgrade
from db.platform.mapping import load_mapping
from worker.health import asyncpg_dsn
from worker.platform import layout_from_report, run_platform_check
from worker.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_SQL = ROOT / "tests" / "platforms" / "open_chat_studio.sql"
MAPPING = ROOT / "examples" / "open-chat-studio" / "platform.toml"

# Share of ``refs`` per reference; a transcript analysis names the source twice.
SHARES = {
    "pipeline_nodes": 0.4,
    "assistants": 0.2,
    "analyses": 0.2,
    "evaluators": 0.1,
    "collections": 0.1,
}
ARCHIVED_NODES = 0.05
ARCHIVED_ASSISTANTS = 0.02
STRING_COPY_EVERY = 10  # one live node in ten keeps its JSON copy as a string

ADD_TEAMS = """
INSERT INTO teams_team (name, slug, created_at, updated_at)
SELECT 'Bench ' || g, 'bench-' || g, now(), now() FROM generate_series(1, $1::int) g
"""

ADD_MODEL = """
INSERT INTO service_providers_llmprovidermodel
    (created_at, updated_at, team_id, type, name, max_token_limit, deprecated)
VALUES (now(), now(), NULL, 'openai', $1, 8000, false) RETURNING id
"""

# Each pipeline: a start node with no model and two LLM nodes.
PIPELINE_NODES = """
INSERT INTO pipelines_node (pipeline_id, flow_id, type, label, params, is_archived,
                            llm_provider_model_id)
SELECT p.id, 'llm-' || k, 'LLMResponseWithPrompt', 'Answer ' || k,
       jsonb_build_object('llm_provider_model_id',
           CASE WHEN (p.id * 2 + k) % $2 = 0 THEN to_jsonb($1::bigint::text)
                ELSE to_jsonb($1::bigint) END,
           'prompt', 'You are a helpful assistant.', 'temperature', 0.7),
       false, $1
FROM pipelines_pipeline p CROSS JOIN generate_series(1, 2) k
UNION ALL
SELECT p.id, 'start', 'StartNode', 'Start', '{}'::jsonb, false, NULL
FROM pipelines_pipeline p
"""

# The first pipelines also keep an archived (older) version of a node, on the source.
ARCHIVED_NODES_SQL = """
INSERT INTO pipelines_node (pipeline_id, flow_id, type, label, params, is_archived,
                            llm_provider_model_id)
SELECT p.id, 'llm-0', 'LLMResponseWithPrompt', 'Answer (v1)',
       jsonb_build_object('llm_provider_model_id', $1::bigint, 'prompt', 'Old prompt.'),
       true, $1
FROM (SELECT id FROM pipelines_pipeline ORDER BY id LIMIT $2) p
"""

# One statement per reference ($1: source, $2: target); archived rows are left alone.
RAW_MIGRATION = (
    """UPDATE pipelines_node
    SET llm_provider_model_id = $2,
        params = jsonb_set(params, '{llm_provider_model_id}', to_jsonb($2::bigint))
    WHERE llm_provider_model_id = $1 AND NOT is_archived""",
    "UPDATE assistants_openaiassistant SET llm_provider_model_id = $2 "
    "WHERE llm_provider_model_id = $1 AND NOT is_archived",
    "UPDATE analysis_transcriptanalysis SET llm_provider_model_id = $2 "
    "WHERE llm_provider_model_id = $1",
    "UPDATE analysis_transcriptanalysis SET translation_llm_provider_model_id = $2 "
    "WHERE translation_llm_provider_model_id = $1",
    "UPDATE evaluations_evaluator SET llm_provider_model_id = $2 WHERE llm_provider_model_id = $1",
    "UPDATE documents_collection SET contextualizer_llm_model_id = $2 "
    "WHERE contextualizer_llm_model_id = $1",
)

# Live references on a model, by label ($1: the model id).
LIVE_ON = {
    "pipeline_nodes": "SELECT count(*) FROM pipelines_node "
    "WHERE llm_provider_model_id = $1 AND NOT is_archived",
    "pipeline_nodes_json": "SELECT count(*) FROM pipelines_node "
    "WHERE params -> 'llm_provider_model_id' = to_jsonb($1::bigint) AND NOT is_archived",
    "assistants": "SELECT count(*) FROM assistants_openaiassistant "
    "WHERE llm_provider_model_id = $1 AND NOT is_archived",
    "transcript_analyses": "SELECT count(*) FROM analysis_transcriptanalysis "
    "WHERE llm_provider_model_id = $1",
    "transcript_translations": "SELECT count(*) FROM analysis_transcriptanalysis "
    "WHERE translation_llm_provider_model_id = $1",
    "evaluators": "SELECT count(*) FROM evaluations_evaluator WHERE llm_provider_model_id = $1",
    "collections": "SELECT count(*) FROM documents_collection "
    "WHERE contextualizer_llm_model_id = $1",
}

# Archived rows still on the source, the column and the JSON copy both.
ARCHIVED_ON = {
    "archived_nodes_on_source": "SELECT count(*) FROM pipelines_node WHERE is_archived "
    "AND llm_provider_model_id = $1 AND params -> 'llm_provider_model_id' = to_jsonb($1::bigint)",
    "archived_assistants_on_source": "SELECT count(*) FROM assistants_openaiassistant "
    "WHERE is_archived AND llm_provider_model_id = $1",
}


def rows_per_table(refs: int) -> dict[str, int]:
    """Rows to seed for ``refs`` live references (pipelines hold two LLM nodes each)."""
    return {
        "pipelines": int(refs * SHARES["pipeline_nodes"]) // 2,
        "assistants": int(refs * SHARES["assistants"]),
        "analyses": int(refs * SHARES["analyses"]) // 2,
        "evaluators": int(refs * SHARES["evaluators"]),
        "collections": int(refs * SHARES["collections"]),
        "archived_nodes": int(refs * ARCHIVED_NODES),
        "archived_assistants": int(refs * ARCHIVED_ASSISTANTS),
    }


async def build(url: str, refs: int, teams: int, questions: int) -> tuple[int, int]:
    """Create the host's tables at ``url``, seed them, then add the worker's schema.

    ``questions`` is unused: usage history on this platform names models by name.
    """
    dsn = asyncpg_dsn(url)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SCHEMA_SQL.read_text())
    finally:
        await conn.close()
    ids = await seed(dsn, refs, teams)
    settings = load_settings(database_url=url, platform_file=MAPPING)
    report = await run_platform_check(settings)
    if not report.ok:
        problems = "; ".join(f"{f.subject}: {f.message}" for f in report.errors)
        raise SystemExit(f"platform check failed on the seeded database: {problems}")
    layout = layout_from_report(settings, report)
    await asyncio.to_thread(upgrade, url, "head", layout, load_mapping(MAPPING))
    return ids


async def seed(dsn: str, refs: int, teams: int) -> tuple[int, int]:
    rows = rows_per_table(refs)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute(ADD_TEAMS, teams)
        await conn.execute(
            "CREATE TEMP TABLE team_ix AS SELECT id, row_number() OVER (ORDER BY id) - 1 AS ix "
            "FROM teams_team"
        )
        await conn.execute("CREATE INDEX ON team_ix (ix)")
        a = await conn.fetchval(ADD_MODEL, "bench-source")
        b = await conn.fetchval(ADD_MODEL, "bench-target")
        pick_team = f"(SELECT id FROM team_ix WHERE ix = g % {teams})"
        await conn.execute(
            f"INSERT INTO pipelines_pipeline (team_id, name, data, is_archived, created_at, "
            f"updated_at) SELECT {pick_team}, 'Pipeline ' || g, '{{}}'::jsonb, false, now(), "
            f"now() FROM generate_series(1, $1::int) g",
            rows["pipelines"],
        )
        await conn.execute(PIPELINE_NODES, a, STRING_COPY_EVERY)
        await conn.execute(ARCHIVED_NODES_SQL, a, rows["archived_nodes"])
        await conn.execute(
            f"INSERT INTO assistants_openaiassistant (team_id, name, assistant_id, instructions, "
            f"is_archived, llm_provider_model_id, created_at, updated_at) "
            f"SELECT {pick_team}, 'Assistant ' || g, 'asst_' || g, '', g > $2::int, $1, now(), "
            f"now() FROM generate_series(1, $2::int + $3::int) g",
            a,
            rows["assistants"],
            rows["archived_assistants"],
        )
        await conn.execute(
            f"INSERT INTO analysis_transcriptanalysis (team_id, name, llm_provider_model_id, "
            f"translation_llm_provider_model_id, created_at, updated_at) "
            f"SELECT {pick_team}, 'Analysis ' || g, $1, $1, now(), now() "
            f"FROM generate_series(1, $2::int) g",
            a,
            rows["analyses"],
        )
        await conn.execute(
            f"INSERT INTO evaluations_evaluator (team_id, name, type, params, "
            f"llm_provider_model_id) SELECT {pick_team}, 'Evaluator ' || g, 'LlmEvaluator', "
            f"'{{}}'::jsonb, $1 FROM generate_series(1, $2::int) g",
            a,
            rows["evaluators"],
        )
        await conn.execute(
            f"INSERT INTO documents_collection (team_id, name, contextualizer_llm_model_id, "
            f"created_at, updated_at) SELECT {pick_team}, 'Collection ' || g, $1, now(), now() "
            f"FROM generate_series(1, $2::int) g",
            a,
            rows["collections"],
        )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return a, b


def expected_state(refs: int) -> dict[str, int]:
    """The end state a correct migration of a database seeded for ``refs`` leaves."""
    rows = rows_per_table(refs)
    return {
        "pipeline_nodes": 2 * rows["pipelines"],
        "pipeline_nodes_json": 2 * rows["pipelines"],
        "assistants": rows["assistants"],
        "transcript_analyses": rows["analyses"],
        "transcript_translations": rows["analyses"],
        "evaluators": rows["evaluators"],
        "collections": rows["collections"],
        "live_on_source": 0,
        "archived_nodes_on_source": rows["archived_nodes"],
        "archived_assistants_on_source": rows["archived_assistants"],
        "source_marked": 1,
    }


async def raw_migration(dsn: str, a: int, b: int) -> float:
    """One ``UPDATE`` per reference (a node's column and JSON copy together) and the
    source marked migrated in the worker's ``model_state``, in one transaction."""
    mark = (
        f'INSERT INTO "{load_settings().worker_schema}".model_state '
        "(model_id, migrated_to_model_id) VALUES ($1, $2) ON CONFLICT (model_id) "
        "DO UPDATE SET migrated_to_model_id = excluded.migrated_to_model_id, updated_at = now()"
    )
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        async with conn.transaction():
            for statement in RAW_MIGRATION:
                await conn.execute(statement, a, b)
            await conn.execute(mark, a, b)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def end_state(dsn: str, a: int, b: int) -> dict[str, int]:
    """Live references on the target, none left on the source, archived rows untouched,
    and the source marked migrated (read through the worker's ``models`` view)."""
    conn = await asyncpg.connect(dsn)
    try:
        state = {label: await conn.fetchval(sql, b) for label, sql in LIVE_ON.items()}
        state["live_on_source"] = sum([await conn.fetchval(sql, a) for sql in LIVE_ON.values()])
        state["live_on_source"] += await conn.fetchval(
            "SELECT count(*) FROM pipelines_node "
            "WHERE params -> 'llm_provider_model_id' = to_jsonb($1::bigint::text) "
            "AND NOT is_archived",
            a,
        )
        for label, sql in ARCHIVED_ON.items():
            state[label] = await conn.fetchval(sql, a)
        state["source_marked"] = await conn.fetchval(
            f'SELECT count(*) FROM "{load_settings().worker_schema}".models '
            "WHERE id = $1 AND migrated_to_model_id = $2",
            a,
            b,
        )
        return state
    finally:
        await conn.close()
