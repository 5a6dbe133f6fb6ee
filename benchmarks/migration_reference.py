"""The migration benchmark on the reference platform: its database, seed and raw SQL.

The database is built as a reference deployment builds it (``upgrade(url)`` creates the
host tables and the worker's schema), then seeded with one source model referenced by
``refs`` live rows (40 % assistants, 20 % apps, 20 % services, 10 % templates, 10 %
pipeline definitions), soft-deleted templates still on the source (1 % of ``refs``, left
alone by a migration) and ``questions`` history rows.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg

from db.migrate import upgrade
from worker.health import asyncpg_dsn

# Every assistant's parameters. The target takes them as they are (litellm keeps
# ``temperature`` for an OpenAI chat model), so a migration carries them unchanged and the
# hand-written equivalent leaves the column alone.
PARAMETERS = '{"temperature": 0.3}'
SHARES = {"assistants": 0.4, "apps": 0.2, "services": 0.2, "templates": 0.1, "pipelines": 0.1}
DELETED_TEMPLATES = 0.01

RAW_MIGRATION = """
UPDATE assistants SET llm_model_id = $2 WHERE llm_model_id = $1;
UPDATE apps SET llm_model_id = $2 WHERE llm_model_id = $1;
UPDATE services SET llm_model_id = $2 WHERE llm_model_id = $1;
UPDATE templates SET llm_model_id = $2 WHERE llm_model_id = $1 AND deleted_at IS NULL;
"""

RAW_PIPELINES = """
UPDATE pipelines t SET definition = jsonb_set(t.definition, '{nodes}', (
    SELECT jsonb_agg(CASE WHEN e.node -> 'params' ->> 'llm_model_id' = $1::text
        THEN jsonb_set(e.node, '{params,llm_model_id}', to_jsonb($2::text)) ELSE e.node END
        ORDER BY e.ord)
    FROM jsonb_array_elements(t.definition -> 'nodes') WITH ORDINALITY AS e(node, ord)))
WHERE t.definition @> jsonb_build_object('nodes', jsonb_build_array(
    jsonb_build_object('params', jsonb_build_object('llm_model_id', $1::text))))
"""

PIPELINES_ON = """
SELECT count(*) FROM pipelines WHERE definition @> jsonb_build_object('nodes',
    jsonb_build_array(jsonb_build_object('params', jsonb_build_object('llm_model_id', $1::text))))
"""


def rows_per_table(refs: int) -> dict[str, int]:
    """Live references per table for ``refs`` in all."""
    return {table: int(refs * share) for table, share in SHARES.items()}


async def build(url: str, refs: int, teams: int, questions: int) -> tuple[uuid.UUID, uuid.UUID]:
    """Migrate the empty database at ``url`` and seed it; the source and target ids."""
    await asyncio.to_thread(upgrade, url)
    return await seed(asyncpg_dsn(url), refs, teams, questions)


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
        rows = rows_per_table(refs)
        pick_team = f"(SELECT id FROM team_ix WHERE ix = g % {teams})"
        await conn.execute(
            f"INSERT INTO assistants (team_id, name, llm_model_id, model_parameters) "
            f"SELECT {pick_team}, 'a' || g, $1, $3::jsonb FROM generate_series(1, $2::int) g",
            a,
            rows["assistants"],
            PARAMETERS,
        )
        for table in ("apps", "services", "templates"):
            await conn.execute(
                f"INSERT INTO {table} (team_id, name, llm_model_id) "
                f"SELECT {pick_team}, '{table}' || g, $1 FROM generate_series(1, $2::int) g",
                a,
                rows[table],
            )
        await conn.execute(
            f"INSERT INTO templates (team_id, name, llm_model_id, deleted_at) "
            f"SELECT {pick_team}, 'deleted' || g, $1, now() FROM generate_series(1, $2::int) g",
            a,
            int(refs * DELETED_TEMPLATES),
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


def expected_state(refs: int) -> dict[str, int]:
    """The end state a correct migration of a database seeded for ``refs`` leaves."""
    rows = rows_per_table(refs)
    return {
        **rows,
        "carried_parameters": rows["assistants"],
        "deleted_templates_on_source": int(refs * DELETED_TEMPLATES),
        "source_marked": 1,
    }


async def raw_migration(dsn: str, a: uuid.UUID, b: uuid.UUID) -> float:
    """One ``UPDATE`` per reference and the source flagged migrated, in one transaction."""
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        async with conn.transaction():
            for statement in RAW_MIGRATION.strip().splitlines():
                await conn.execute(statement, a, b)
            await conn.execute(RAW_PIPELINES, str(a), str(b))
            await conn.execute(
                "UPDATE llm_models SET migrated_to_model_id = $2, updated_at = now() WHERE id = $1",
                a,
                b,
            )
        return time.perf_counter() - started
    finally:
        await conn.close()


async def end_state(dsn: str, a: uuid.UUID, b: uuid.UUID) -> dict[str, int]:
    """Live references on the target, soft-deleted ones still on the source, the mark."""
    conn = await asyncpg.connect(dsn)
    try:
        state = {}
        for table in ("assistants", "apps", "services"):
            state[table] = await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE llm_model_id = $1", b
            )
        state["templates"] = await conn.fetchval(
            "SELECT count(*) FROM templates WHERE llm_model_id = $1 AND deleted_at IS NULL", b
        )
        state["pipelines"] = await conn.fetchval(PIPELINES_ON, str(b))
        state["carried_parameters"] = await conn.fetchval(
            "SELECT count(*) FROM assistants WHERE model_parameters = $1::jsonb", PARAMETERS
        )
        state["deleted_templates_on_source"] = await conn.fetchval(
            "SELECT count(*) FROM templates WHERE llm_model_id = $1 AND deleted_at IS NOT NULL",
            a,
        )
        state["source_marked"] = await conn.fetchval(
            "SELECT count(*) FROM llm_models WHERE id = $1 AND migrated_to_model_id = $2", a, b
        )
        return state
    finally:
        await conn.close()
