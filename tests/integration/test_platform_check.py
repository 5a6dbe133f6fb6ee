"""`platform check` holds a mapping against a live schema, on every platform."""

from __future__ import annotations

import tomllib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text

from db.engine import make_engine
from db.platform.check import PlatformReport, check_platform
from db.platform.mapping import (
    REFERENCE_PLATFORM_FILE as REFERENCE_FILE,
)
from db.platform.mapping import PlatformMapping, load_mapping, parse_mapping, reference_platform
from jobs.runtime import Runtime
from tests.platforms import OPEN_CHAT_STUDIO

HostDatabase = Callable[..., Awaitable[str]]


async def _check(url: str, mapping: PlatformMapping, **kw: Any) -> PlatformReport:
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return await check_platform(conn, mapping, source="test", **kw)
    finally:
        await engine.dispose()


def _ocs_mapping(edit: Callable[[dict[str, Any]], None] | None = None) -> PlatformMapping:
    data = tomllib.loads(OPEN_CHAT_STUDIO.mapping.read_text())
    if edit is not None:
        edit(data)
    return parse_mapping(data, "edited")


def _messages(report: PlatformReport, level: str = "error") -> list[str]:
    return [f"{f.subject}: {f.message}" for f in report.findings if f.level == level]


async def test_reference_platform_checks_clean(runtime: Runtime, database_url: str) -> None:
    await runtime.engine.dispose()
    report = await _check(database_url, reference_platform(), count_rows=True)
    assert _messages(report) == [] and _messages(report, "warning") == []
    assert report.key_types == {"model": "uuid", "team": "uuid", "user": "uuid"}
    assert report.kept_by_worker == []
    assert set(report.rows) == {r.label for r in reference_platform().references}


@pytest.mark.parametrize(
    ("ddl", "message"),
    [
        ("ALTER TABLE apps DROP COLUMN llm_model_id", "reference apps: column apps.llm_model_id"),
        ("DROP TABLE app_runs", "reference app_runs: table public.app_runs does not exist"),
        ("ALTER TABLE spaces DROP COLUMN team_id", "reference spaces: column spaces.team_id"),
        (
            "ALTER TABLE questions DROP CONSTRAINT fk_questions_llm_model_id_llm_models, "
            "ALTER COLUMN llm_model_id TYPE text",
            "reference questions: column questions.llm_model_id is text, model ids are uuid",
        ),
    ],
)
async def test_reference_platform_mismatch_names_the_piece(
    runtime: Runtime, database_url: str, ddl: str, message: str
) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(text(ddl))
    await runtime.engine.dispose()
    report = await _check(database_url, reference_platform())
    assert not report.ok
    assert any(m.startswith(message) for m in _messages(report)), _messages(report)


async def test_open_chat_studio_checks_clean(host_database: HostDatabase) -> None:
    url = await host_database(OPEN_CHAT_STUDIO)
    report = await _check(url, load_mapping(OPEN_CHAT_STUDIO.mapping), count_rows=True)
    assert _messages(report) == [] and _messages(report, "warning") == []
    assert report.key_types == {"model": "bigint", "team": "bigint", "user": "bigint"}
    assert report.kept_by_worker == [
        "deprecation_date",
        "deprecation_source",
        "replacement",
        "migrated_to",
        "deleted_at",
    ]
    # Rows that name a model, archived ones included (the check counts, it does not judge).
    assert report.rows["pipeline_nodes"] == 3
    assert report.rows["transcript_translations"] == 1
    nodes = next(f for f in report.findings if f.subject == "reference pipeline_nodes")
    assert "ON DELETE NO ACTION DEFERRABLE INITIALLY DEFERRED" in nodes.message


async def test_open_chat_studio_missing_index_is_a_warning_with_its_fix(
    host_database: HostDatabase,
) -> None:
    url = await host_database(OPEN_CHAT_STUDIO, seed=False)
    engine = make_engine(url, pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(text("DROP INDEX evaluations_evaluator_llm_provider_model_id"))
    await engine.dispose()
    report = await _check(url, load_mapping(OPEN_CHAT_STUDIO.mapping))
    assert report.ok
    [warning] = report.warnings
    assert warning.subject == "reference evaluators"
    assert warning.fix == (
        "CREATE INDEX CONCURRENTLY ix_evaluations_evaluator_llm_provider_model_id "
        "ON public.evaluations_evaluator (llm_provider_model_id);"
    )


def _misspell_column(data: dict[str, Any]) -> None:
    data["references"][1]["column"] = "llm_provider_modle_id"


def _json_into_text(data: dict[str, Any]) -> None:
    data["references"][0]["json_copy"]["column"] = "flow_id"


def _recipients_without_email(data: dict[str, Any]) -> None:
    data["recipients"]["query"] = data["recipients"]["query"].replace(", u.email", "")


def _missing_table(data: dict[str, Any]) -> None:
    data["references"][4]["table"] = "evaluations_evaluators"


async def test_broken_mapping_names_each_error(host_database: HostDatabase) -> None:
    url = await host_database(OPEN_CHAT_STUDIO, seed=False)

    def break_all(data: dict[str, Any]) -> None:
        for edit in (_misspell_column, _json_into_text, _recipients_without_email, _missing_table):
            edit(data)

    report = await _check(url, _ocs_mapping(break_all))
    assert not report.ok
    assert sorted(_messages(report)) == sorted(
        [
            "reference assistants: column assistants_openaiassistant.llm_provider_modle_id "
            "does not exist",
            "reference pipeline_nodes (json_copy): column pipelines_node.flow_id is varchar, "
            "expected jsonb (a JSON path needs jsonb)",
            "recipients: the query returns team_id, user_id; missing email "
            "(it must return team_id, user_id, email)",
            "reference evaluators: table public.evaluations_evaluators does not exist",
        ]
    )


async def test_recipients_query_that_does_not_prepare_is_named(
    host_database: HostDatabase,
) -> None:
    url = await host_database(OPEN_CHAT_STUDIO, seed=False)

    def bad_sql(data: dict[str, Any]) -> None:
        data["recipients"]["query"] = "SELECT team_id FROM no_such_table WHERE id = ANY(:team_ids)"

    report = await _check(url, _ocs_mapping(bad_sql))
    assert _messages(report) == [
        'recipients: the query does not prepare: relation "no_such_table" does not exist'
    ]


async def test_recipients_query_is_prepared_never_run(host_database: HostDatabase) -> None:
    """A query that would write if it ran is refused, and leaves every row where it was."""
    url = await host_database(OPEN_CHAT_STUDIO)

    def writing(data: dict[str, Any]) -> None:
        data["recipients"]["query"] = (
            "WITH gone AS (DELETE FROM teams_membership RETURNING team_id, user_id) "
            "SELECT g.team_id, g.user_id, u.email FROM gone g "
            "JOIN users_customuser u ON u.id = g.user_id WHERE g.team_id = ANY(:team_ids)"
        )

    report = await _check(url, _ocs_mapping(writing))
    assert _messages(report) == [
        "recipients: the query writes (DELETE into teams_membership): it runs in a "
        "read-only transaction and may only read"
    ]
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM teams_membership")) == 4
    finally:
        await engine.dispose()


async def test_json_reference_without_its_index_warns_and_the_fix_serves_it(
    runtime: Runtime, database_url: str
) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(text("DROP INDEX ix_pipelines_definition_lower_path_ops"))
    await runtime.engine.dispose()
    report = await _check(database_url, reference_platform())
    [warning] = report.warnings
    assert warning.subject == "reference pipelines" and warning.fix is not None
    # The suggested statement is valid SQL, and the index it builds is the one recognised.
    engine = make_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(warning.fix))
    finally:
        await engine.dispose()
    assert (await _check(database_url, reference_platform())).warnings == []


async def test_json_ids_as_numbers_on_uuid_model_keys_is_an_error(
    runtime: Runtime, database_url: str
) -> None:
    data = tomllib.loads(REFERENCE_FILE.read_text())
    for ref in data["references"]:
        if "json" in ref:
            ref["json"]["id_as"] = "number"
    await runtime.engine.dispose()
    report = await _check(database_url, parse_mapping(data, "edited"))
    assert _messages(report) == [
        "reference pipelines: pipelines.definition -> nodes[*].params.llm_model_id: ids "
        "written as JSON numbers need whole-number model keys, and models here are keyed by "
        'uuid (use id_as = "string")'
    ]
