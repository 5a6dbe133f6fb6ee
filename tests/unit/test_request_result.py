"""A request's typed result: its JSON keeps the keys each path has always had, reads back
as the same result, renders in the CLI from its attributes, and stays bounded."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from db.models import LlmModel, ModelMigration
from db.models.lifecycle import RequestStatus
from jobs.migration import JOBS
from jobs.model_ref import parse_model_ref
from jobs.request_result import (
    CodesByKind,
    FindingRecord,
    ModelInResult,
    RequestPlan,
    RequestResult,
    UndoResult,
)
from jobs.runtime import Runtime
from worker.app import _job_function
from worker.cli.common import read_result
from worker.cli.migrate import render_request
from worker.cli.output import CommandFailed
from worker.cli.undo import render_undo
from worker.demo import request_text
from worker.job_results import LIST_KEEP, RESULT_MAX_BYTES, result_size
from worker.metrics import WorkerMetrics
from worker.settings import load_settings

TEAM = str(uuid.UUID(int=7))
RECORDED = {
    "status",
    "request_id",
    "request_key",
    "kind",
    "source",
    "target",
    "team_scope",
    "source_retired",
    "codes",
    "counts",
    "error",
}


def row(status: str = "succeeded", **values: Any) -> ModelMigration:
    fields: dict[str, Any] = {
        "id": uuid.UUID(int=1),
        "kind": "migration",
        "request_key": "retire-gpt-4",
        "status": status,
        "from_model_id": 1,
        "from_provider": "openai",
        "from_model_name": "gpt-4",
        "to_model_id": 2,
        "to_provider": "openai",
        "to_model_name": "gpt-4o",
        "teams": None,
        "source_retired": True,
        "warnings": ["parameters_reset"],
        "counts": {"assistants": 3, "apps": 1},
        "error": None,
        "created_at": datetime(2026, 12, 6, tzinfo=UTC),
    }
    return ModelMigration(**{**fields, **values})


def findings(
    n: int = 2, message: str = "context window shrinks from 8192 to 4096 tokens"
) -> list[FindingRecord]:
    """``n`` findings, warnings and infos by turns."""
    return [
        FindingRecord(kind="info" if i % 2 else "warning", code=f"code_{i}", message=message)
        for i in range(n)
    ]


def dry_run(**fields: Any) -> RequestResult:
    source = LlmModel(
        id=1,
        provider="openai",
        name="gpt-4",
        team_id=None,
        token_limit=8192,
        deprecated=True,
        deprecation_date=date(2026, 12, 31),
    )
    values: dict[str, Any] = {
        "status": "rejected",
        "dry_run": True,
        "kind": "migration",
        "request_key": "KEY",
        "source": ModelInResult.of(source),
        "target": ModelInResult.named(parse_model_ref("openai:gpt-5")),
        "team_scope": None,
        "source_retired": True,
        "codes": ["code_0", "code_1"],
        "findings": findings(),
        "plan": RequestPlan(counts={"assistants": 3}, teams={TEAM: {"assistants": 3}}),
    }
    return RequestResult(**{**values, **fields})


def test_a_dry_runs_json_keeps_the_documented_keys_and_reads_back_the_same() -> None:
    report = dry_run()
    as_json = report.model_dump(mode="json")
    assert set(as_json) == {
        "status",
        "dry_run",
        "kind",
        "request_key",
        "source",
        "target",
        "team_scope",
        "source_retired",
        "codes",
        "codes_by_kind",
        "messages",
        "findings",
        "plan",
    }
    assert as_json["source"] == {
        "id": "1",
        "provider": "openai",
        "name": "gpt-4",
        "team_id": None,
        "token_limit": 8192,
        "deprecated": True,
        "deprecation_date": "2026-12-31",
    }
    # A model the request names that does not exist: by the name it gave, nothing more.
    assert as_json["target"] == {"id": None, "provider": "openai", "name": "gpt-5"}
    assert as_json["codes_by_kind"] == {"blockers": [], "warnings": ["code_0"], "info": ["code_1"]}
    assert as_json["messages"] == [f"code_{i}: {f.message}" for i, f in enumerate(findings())]
    assert as_json["findings"][0] == {
        "kind": "warning",
        "code": "code_0",
        "message": "context window shrinks from 8192 to 4096 tokens",
    }
    assert as_json["plan"] == {"counts": {"assistants": 3}, "teams": {TEAM: {"assistants": 3}}}
    again = RequestResult.model_validate(as_json)
    assert again == report and again.model_dump(mode="json") == as_json
    assert again.codes_by_kind == CodesByKind(blockers=[], warnings=["code_0"], info=["code_1"])


def test_a_recorded_requests_json_has_only_the_keys_its_path_gives() -> None:
    recorded = RequestResult.of(row())
    assert recorded.model_dump(mode="json") == {
        "status": "succeeded",
        "request_id": str(uuid.UUID(int=1)),
        "request_key": "retire-gpt-4",
        "kind": "migration",
        "source": {"id": "1", "provider": "openai", "name": "gpt-4"},
        "target": {"id": "2", "provider": "openai", "name": "gpt-4o"},
        "team_scope": None,
        "source_retired": True,
        "codes": ["parameters_reset"],
        "counts": {"assistants": 3, "apps": 1},
        "error": None,
    }
    # A request that clears references has no target; one whose source is gone, no id.
    cleared = RequestResult.of(row(to_model_id=None, to_provider=None, to_model_name=None))
    assert cleared.model_dump(mode="json")["target"] is None
    named = recorded.model_copy(
        update={"source": recorded.source.model_copy(update={"team_id": TEAM})}
    )
    assert named.model_dump(mode="json")["source"]["team_id"] == TEAM
    told = RequestResult.of(row(), teams=2).model_dump(mode="json")
    assert set(told) == RECORDED | {"teams"} and told["teams"] == 2
    resumed = RequestResult.of(row("pending"), changed=True, job_id=None).model_dump(mode="json")
    assert set(resumed) == RECORDED | {"changed", "job_id"} and resumed["job_id"] is None
    rejected = RequestResult.of(row("rejected"), findings=findings(), plan=dry_run().plan)
    assert set(rejected.model_dump(mode="json")) == RECORDED | {
        "codes_by_kind",
        "messages",
        "findings",
        "plan",
    }
    for result in (recorded, cleared, named, rejected):
        as_json = result.model_dump(mode="json")
        assert RequestResult.model_validate(as_json).model_dump(mode="json") == as_json


def test_an_undos_json_keeps_its_keys() -> None:
    done = UndoResult.of(
        row("undone"),
        restored={"assistants": 3},
        changed_since={"apps": 1},
        source_mark_cleared=True,
        pointers={"migrated_pointers": 1, "replacement_pointers": 0},
        dry_run=False,
    )
    as_json = done.model_dump(mode="json")
    extra = {"restored", "changed_since", "source_mark_cleared", "pointers", "dry_run"}
    assert set(as_json) == RECORDED | extra
    assert UndoResult.model_validate(as_json) == done
    refused = UndoResult.of(
        row(),
        status=RequestStatus.REJECTED,
        request_status=RequestStatus.SUCCEEDED,
        codes=["source_deleted"],
        error="source_deleted: gone",
        restored={},
        changed_since={},
        dry_run=True,
    ).model_dump(mode="json")
    assert (refused["status"], refused["request_status"]) == ("rejected", "succeeded")
    assert set(refused) == RECORDED | {"request_status", "restored", "changed_since", "dry_run"}
    # An undo's result is not a request's: its keys are refused there.
    with pytest.raises(ValueError, match="restored"):
        RequestResult.model_validate(as_json)


def test_the_cli_renders_a_result_read_back_from_its_json() -> None:
    scoped = RequestResult.of(row(teams=[TEAM], source_retired=False), teams=1)
    result = RequestResult.model_validate(scoped.model_dump(mode="json"))
    assert render_request(result).splitlines() == [
        "request retire-gpt-4: migration openai:gpt-4 -> openai:gpt-4o",
        "status: succeeded",
        f"teams: {TEAM} (only their live references)",
        "codes: parameters_reset",
        "reference   changed",
        "----------  -------",
        "apps        1",
        "assistants  3",
        "teams notified: 1",
        "source kept: other teams still use it (source_retired: false)",
    ]
    undone = UndoResult.of(
        row("undone"),
        restored={"assistants": 3},
        changed_since={"apps": 1},
        source_mark_cleared=True,
        pointers={},
    )
    text = render_undo(UndoResult.model_validate(undone.model_dump(mode="json")))
    assert text.splitlines() == [
        "undone: request retire-gpt-4 (migration openai:gpt-4 -> openai:gpt-4o)",
        "reference   restored  changed since (left)",
        "----------  --------  --------------------",
        "apps        0         1",
        "assistants  3         0",
        "openai:gpt-4 is live again",
    ]


async def test_a_typed_result_over_the_cap_is_bounded_by_the_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker stores a typed result as its JSON, bounded like any other: lists cut to
    their first items still read back; a result cut to its plain values says so."""
    long = "x" * 400
    huge = RequestResult.of(row("rejected"), codes=[f"c{i}" for i in range(300)])
    huge = huge.model_copy(update={"findings": findings(300, long)})

    async def run(runtime: Runtime, payload: Any) -> RequestResult:
        return huge

    monkeypatch.setattr("worker.app._parse_payload", lambda *args: None)
    settings = load_settings({})
    spec = dataclasses.replace(JOBS[0], run=run, give_up=None)
    function = _job_function(spec, settings, WorkerMetrics(settings))
    runtime = Runtime(settings=settings.job_config, engine=None, sessions=None)  # type: ignore[arg-type]

    stored = await function.coroutine({"lifecycle_runtime": runtime, "job_try": 1})

    assert result_size(huge.model_dump(mode="json")) > RESULT_MAX_BYTES
    assert result_size(stored) <= RESULT_MAX_BYTES
    assert stored["truncated"] == {
        "codes": 300,
        "findings": 300,
        "messages": 300,
        "codes_by_kind.warnings": 150,
        "codes_by_kind.info": 150,
    }
    kept = read_result(RequestResult, stored)
    assert (kept.status, len(kept.findings or []), len(kept.codes)) == (
        "rejected",
        LIST_KEEP,
        LIST_KEEP,
    )
    plain = {"status": "rejected", "request_key": "k", "truncated": {"plan": 1}}
    with pytest.raises(CommandFailed, match=r"too large to keep whole \(plan left out\)"):
        read_result(RequestResult, plain)


def test_the_teams_a_request_is_limited_to_are_shown_by_slug_where_the_result_has_it() -> None:
    scoped = RequestResult.of(row(teams=[TEAM], source_retired=False), teams=1)
    custom = scoped.target.model_copy(update={"team_id": TEAM}) if scoped.target else None
    named = scoped.model_copy(update={"target": custom, "team_slugs": {TEAM: "acme"}})
    lines = render_request(RequestResult.model_validate(named.model_dump(mode="json")))
    # A custom model keeps its label (with its team's id), as history and notifications
    # name it; the request's teams are shown as the operator names them.
    assert lines.splitlines()[:3] == [
        f"request retire-gpt-4: migration openai:gpt-4 -> openai:gpt-4o (team {TEAM})",
        "status: succeeded",
        "teams: acme (only their live references)",
    ]


def test_the_demo_prints_a_request_as_the_cli_does_and_a_failed_job_by_its_error() -> None:
    answer = RequestResult.of(row()).model_dump(mode="json")
    assert request_text(answer) == render_request(RequestResult.of(row()))
    failed = {"status": "failed", "error": {"error": "PermanentJobError", "message": "boom"}}
    assert request_text(failed) == "the job failed: PermanentJobError: boom"
