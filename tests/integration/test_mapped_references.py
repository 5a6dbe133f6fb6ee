"""The reference builders on a real host shape: Open Chat Studio's bigint keys, a JSON copy
of the id (a number in some rows, a string in others), archived rows, a team through the
parent, two references in one table. The query functions are called with the mapping's
own references."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.engine import make_engine
from db.migrate import upgrade
from db.platform.host import Platform
from db.platform.mapping import load_mapping
from db.queries.cleanup import repoint_not_live
from db.queries.deprecation import usage_of_models
from db.queries.references import referencing_labels, usage_by_team
from db.queries.repointing import Scope, move_batch, out_of_scope
from db.queries.requests import (
    LabelProgress,
    counts_by_label_and_team,
    progress_by_label,
    record_batch_progress,
)
from db.reference import IdForm, JsonPath, Reference, Role, Shape, TeamVia
from tests.platforms import OPEN_CHAT_STUDIO
from tests.services import base_settings
from worker.platform import layout_from_report, run_platform_check
from worker.settings import load_settings

HostDatabase = Callable[..., Awaitable[str]]
OCS = Platform(load_mapping(OPEN_CHAT_STUDIO.mapping))
REFS = {ref.label: ref for ref in OCS.references}
NODES = REFS["pipeline_nodes"]
# Seeded models: 1 (global, deprecated), 2 (global), 3 (team 11's custom model).
OLD, NEW, CUSTOM = 1, 2, 3
ALPHA, BETA = 11, 12


@dataclass
class Host:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    async def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        async with self.engine.connect() as conn:
            return [tuple(r) for r in await conn.execute(text(sql), params)]

    async def request(self) -> uuid.UUID:
        """A request row for the batches to be counted under."""
        async with self.engine.begin() as conn:
            request_id = await conn.scalar(
                text(
                    "INSERT INTO model_migrations (kind, request_key, status) "
                    "VALUES ('migration', :key, 'running') RETURNING id"
                ),
                {"key": uuid.uuid4().hex},
            )
        assert isinstance(request_id, uuid.UUID)
        return request_id


@pytest.fixture
async def host(host_database: HostDatabase) -> AsyncIterator[Host]:
    """A seeded Open Chat Studio database with the worker's schema upgraded in."""
    url = await host_database(OPEN_CHAT_STUDIO)
    settings = load_settings(
        {},
        database_url=url,
        redis_url=base_settings().redis_url.get_secret_value(),
        platform_file=OPEN_CHAT_STUDIO.mapping,
    )
    layout = layout_from_report(settings, await run_platform_check(settings))
    await asyncio.to_thread(upgrade, url, "head", layout, load_mapping(OPEN_CHAT_STUDIO.mapping))
    engine = make_engine(url, pool_size=2, layout=layout)
    try:
        yield Host(engine, async_sessionmaker(engine, expire_on_commit=False))
    finally:
        await engine.dispose()


async def _nodes(host: Host) -> list[tuple[Any, ...]]:
    """(pipeline, archived, column, params copy) of every LLM node, in key order."""
    return await host.rows(
        "SELECT pipeline_id, is_archived, llm_provider_model_id, params -> 'llm_provider_model_id' "
        "FROM pipelines_node WHERE type <> 'StartNode' ORDER BY id"
    )


async def test_usage_counts_live_rows_per_team_through_the_parent(host: Host) -> None:
    async with host.engine.connect() as conn:
        usage = await usage_by_team(conn, OLD, OCS.live())
        everything = await usage_by_team(conn, OLD, OCS.live(), include_not_live=True)
        labels = await referencing_labels(conn, CUSTOM, OCS.references)
    assert {label: u.teams for label, u in usage.items()} == {
        "pipeline_nodes": {ALPHA: 1, BETA: 1},  # the archived node is not counted
        "assistants": {ALPHA: 1},  # nor the archived assistant
        "transcript_analyses": {ALPHA: 1},
        "transcript_translations": {ALPHA: 1},
        "evaluators": {BETA: 1},
    }
    assert everything["pipeline_nodes"].total == 3 and everything["assistants"].total == 2
    assert labels == ["collections"]
    async with host.sessions() as session:
        by_model = await usage_of_models(session, [OLD, NEW], OCS.live())
    assert by_model[OLD][str(BETA)] == {"pipeline_nodes": 1, "evaluators": 1}
    assert by_model[NEW] == {str(BETA): {"assistants": 1, "transcript_analyses": 1}}


async def test_pipeline_nodes_move_with_their_json_copy_in_keyset_batches(host: Host) -> None:
    request_id = await host.request()
    scope = Scope(None, 0)
    cursor: int | uuid.UUID | None = None
    batches = []
    while True:
        async with host.sessions() as session, session.begin():
            batch = await move_batch(
                session,
                NODES,
                migration_id=request_id,
                source=OLD,
                target=NEW,
                limit=1,
                after=cursor,
                scope=scope,
            )
            if batch.selected:
                await record_batch_progress(
                    session, request_id, NODES.label, batch.moved, batch.last_key
                )
        batches.append((batch.selected, batch.moved))
        if batch.selected < 1 or batch.last_key is None:
            break
        assert isinstance(batch.last_key, int)  # a bigint key, resumed from as it is
        cursor = batch.last_key
    assert batches == [(1, 1), (1, 1), (0, 0)]
    # Both live nodes moved, column and copy together; the copy the host wrote as a
    # string (an older row) is written back as a number. The archived node stays.
    assert await _nodes(host) == [
        (31, False, NEW, NEW),
        (31, True, OLD, OLD),
        (32, False, NEW, NEW),
    ]
    prompt = await host.rows(
        "SELECT params ->> 'prompt' FROM pipelines_node WHERE pipeline_id = 31 AND NOT is_archived"
    )
    assert prompt == [("hi",)]
    async with host.sessions() as session:
        counts = await counts_by_label_and_team(session, request_id)
    assert counts == [("pipeline_nodes", ALPHA, 1), ("pipeline_nodes", BETA, 1)]
    async with host.sessions() as session:
        progress = await progress_by_label(session, request_id)
    # The two batches that selected a row are counted; the cursor is the last row moved,
    # read back as the bigint key it is.
    assert progress == {"pipeline_nodes": LabelProgress(None, 2, cursor, 2)}


async def test_a_clear_nulls_the_column_and_its_copy(host: Host) -> None:
    request_id = await host.request()
    async with host.sessions() as session, session.begin():
        batch = await move_batch(
            session, NODES, migration_id=request_id, source=OLD, target=None, limit=10
        )
    assert (batch.selected, batch.moved) == (2, 2)
    assert await _nodes(host) == [
        (31, False, None, None),
        (31, True, OLD, OLD),
        (32, False, None, None),
    ]
    raw = await host.rows(
        "SELECT params::text FROM pipelines_node WHERE pipeline_id = 32 AND type <> 'StartNode'"
    )
    assert json.loads(raw[0][0]) == {"llm_provider_model_id": None}


async def test_two_references_in_one_table_move_independently(host: Host) -> None:
    request_id = await host.request()
    async with host.sessions() as session, session.begin():
        batch = await move_batch(
            session,
            REFS["transcript_analyses"],
            migration_id=request_id,
            source=OLD,
            target=NEW,
            limit=10,
            scope=Scope(None, 0),
        )
    assert batch.moved == 1
    both = (
        "SELECT llm_provider_model_id, translation_llm_provider_model_id "
        "FROM analysis_transcriptanalysis WHERE team_id = 11"
    )
    assert await host.rows(both) == [(NEW, OLD)]
    async with host.sessions() as session, session.begin():
        await move_batch(
            session,
            REFS["transcript_translations"],
            migration_id=request_id,
            source=OLD,
            target=CUSTOM,
            limit=10,
            scope=Scope((ALPHA,), 0),
        )
    assert await host.rows(both) == [(NEW, CUSTOM)]


async def test_a_team_scoped_move_leaves_other_teams_rows(host: Host) -> None:
    async with host.sessions() as session:
        found = await out_of_scope(session, OCS.live(), OLD, Scope((ALPHA,), 0))
    assert found.other_teams == {"pipeline_nodes": 1, "evaluators": 1}
    request_id = await host.request()
    async with host.sessions() as session, session.begin():
        batch = await move_batch(
            session,
            NODES,
            migration_id=request_id,
            source=OLD,
            target=CUSTOM,
            limit=10,
            scope=Scope((ALPHA,), 0),
        )
    assert batch.moved == 1
    assert await _nodes(host) == [
        (31, False, CUSTOM, CUSTOM),
        (31, True, OLD, OLD),
        (32, False, OLD, "1"),
    ]


async def test_cleanup_repoints_archived_rows_first(host: Host) -> None:
    async with host.sessions() as session, session.begin():
        moved = await repoint_not_live(session, OLD, NEW, OCS.references)
    assert moved == {"pipeline_nodes": 1, "assistants": 1}
    assert (31, True, NEW, NEW) in await _nodes(host)
    archived = "SELECT llm_provider_model_id FROM assistants_openaiassistant WHERE is_archived"
    assert await host.rows(archived) == [(NEW,)]
    async with host.sessions() as session, session.begin():
        cleared = await repoint_not_live(session, NEW, None, OCS.references)
    assert cleared == {"pipeline_nodes": 1, "assistants": 1}
    assert await host.rows(archived) == [(None,)]


# The id inside a pipeline's own JSON: one array step, numbers and strings mixed.
DATA = Reference(
    "pipeline_data",
    "pipelines_pipeline",
    "data",
    Role.LIVE,
    shape=Shape.JSON,
    json=JsonPath("data", ("nodes", "params", "llm_provider_model_id"), 0, IdForm.NUMBER),
    clearable=True,
)


async def test_ids_inside_json_arrays_match_as_numbers_or_strings_and_move(host: Host) -> None:
    document = {
        "nodes": [
            {"id": "a", "params": {"llm_provider_model_id": OLD}},
            {"id": "b", "params": {"llm_provider_model_id": str(OLD)}},
            {"id": "c", "params": {"llm_provider_model_id": NEW}},
            {"id": "d"},
        ]
    }
    async with host.engine.begin() as conn:
        await conn.execute(
            text("UPDATE pipelines_pipeline SET data = CAST(:d AS jsonb) WHERE id = 31"),
            {"d": json.dumps(document)},
        )
    async with host.engine.connect() as conn:
        assert (await usage_by_team(conn, OLD, [DATA]))["pipeline_data"].teams == {ALPHA: 1}
        assert await usage_by_team(conn, 99, [DATA]) == {}
    request_id = await host.request()
    async with host.sessions() as session, session.begin():
        batch = await move_batch(
            session,
            DATA,
            migration_id=request_id,
            source=OLD,
            target=NEW,
            limit=10,
            scope=Scope(None, 0),
        )
    assert batch.moved == 1 and batch.last_key == 31
    data = (await host.rows("SELECT data FROM pipelines_pipeline WHERE id = 31"))[0][0]
    assert [n.get("params", {}).get("llm_provider_model_id") for n in data["nodes"]] == [
        NEW,
        NEW,
        NEW,
        None,
    ]
    assert [n["id"] for n in data["nodes"]] == ["a", "b", "c", "d"]
    assert DATA.json is not None
    as_string = replace(DATA, json=replace(DATA.json, id_as=IdForm.STRING))
    async with host.sessions() as session, session.begin():
        await move_batch(
            session,
            as_string,
            migration_id=request_id,
            source=NEW,
            target=CUSTOM,
            limit=10,
            scope=Scope(None, 0),
        )
    data = (await host.rows("SELECT data FROM pipelines_pipeline WHERE id = 31"))[0][0]
    assert [n.get("params", {}).get("llm_provider_model_id") for n in data["nodes"]] == [
        "3",
        "3",
        "3",
        None,
    ]


def test_team_through_a_parent_is_the_nodes_team() -> None:
    assert NODES.team_via == TeamVia("pipelines_pipeline", "pipeline_id", "team_id")
