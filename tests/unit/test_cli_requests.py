"""How `lifecycle requests` prints requests and the answers of its controls."""

from __future__ import annotations

from datetime import UTC, datetime

from jobs.request_control import RequestSummary
from jobs.request_result import FindingRecord, ModelInResult, RequestResult
from worker.cli.migrate import render_request
from worker.cli.requests import CONTROL_TEXT, render_requests

SOURCE = {"id": "1", "provider": "openai", "name": "gpt-4"}
TARGET = {"id": "2", "provider": "openai", "name": "gpt-4o"}


def summary(**values: object) -> RequestSummary:
    fields: dict[str, object] = {
        "request_key": "retire-gpt-4",
        "kind": "migration",
        "status": "running",
        "source": ModelInResult.model_validate(SOURCE),
        "target": ModelInResult.model_validate(TARGET),
        "teams": None,
        "done": 1365,
        "planned": 2655,
        "rows_per_s": 302.3,
        "eta_s": 4.3,
        "created_at": datetime(2026, 12, 6, tzinfo=UTC),
    }
    fields.update(values)
    return RequestSummary(**fields)  # type: ignore[arg-type]


def test_requests_table() -> None:
    rows = [
        summary(),
        summary(
            request_key="clear-gpt-4",
            kind="deletion",
            status="paused",
            target=None,
            teams=["7", "9"],
            rows_per_s=None,
            eta_s=None,
            planned=None,
            done=0,
        ),
    ]
    assert render_requests(rows).splitlines() == [
        "request_key   kind       status   source        target         teams  done  planned"
        "  rows/s  eta",
        "------------  ---------  -------  ------------  -------------  -----  ----  -------"
        "  ------  -------",
        "retire-gpt-4  migration  running  openai:gpt-4  openai:gpt-4o  all    1365  2655   "
        "  302     0:00:04",
        "clear-gpt-4   deletion   paused   openai:gpt-4  (cleared)      7,9    0",
    ]


def test_no_requests() -> None:
    assert render_requests([]) == "no migration or deletion requests recorded"
    assert render_requests([], active=True) == "no active requests"


def result(**fields: object) -> RequestResult:
    """A recorded request's result as a control answers it (JSON, as the client gives it)."""
    recorded: dict[str, object] = {
        "status": "paused",
        "request_id": "0b7e1c52-7f4c-4a53-9a40-3f1f7c3f2a11",
        "request_key": "k",
        "kind": "migration",
        "source": SOURCE,
        "target": TARGET,
        "team_scope": None,
        "source_retired": False,
        "codes": [],
        "counts": {},
        "error": None,
    }
    return RequestResult.model_validate({**recorded, **fields})


def test_control_answers() -> None:
    paused = result(changed=True, counts={"apps": 5, "assistants": 3})
    assert CONTROL_TEXT["pause"](paused) == (
        "request k paused (8 rows moved); it keeps its source. `lifecycle requests resume k` "
        "carries on, `lifecycle requests cancel k` stops it for good"
    )
    resumed = result(status="pending", changed=False, job_id="q:migrate_model:k:resume-1")
    assert CONTROL_TEXT["resume"](resumed) == (
        "request k was already resumed: job q:migrate_model:k:resume-1 carries it on from "
        "where it stopped (`lifecycle requests` shows its progress)"
    )
    running = result(status="running", changed=False, job_id=None)
    assert CONTROL_TEXT["resume"](running) == "request k is running; nothing to resume"
    cleared = result(status="cancelled", changed=True, counts={"apps": 2}, target=None)
    assert CONTROL_TEXT["cancel"](cleared) == (
        "request k cancelled (2 rows moved); the rows cleared stay cleared, the rest stay on "
        "openai:gpt-4, which stays live and is free for a new request"
    )


def test_a_requests_findings_are_shown_from_their_records() -> None:
    report = RequestResult(
        status="rejected",
        dry_run=True,
        kind="migration",
        request_key="k",
        source=ModelInResult.model_validate(SOURCE),
        target=ModelInResult.model_validate(TARGET),
        team_scope=None,
        source_retired=True,
        codes=["provider_changed", "parameters_reset"],
        findings=[
            FindingRecord(kind="warning", code="provider_changed", message="from openai: to x: y"),
            FindingRecord(kind="info", code="parameters_reset", message="2 rows"),
        ],
    )
    lines = render_request(report).splitlines()
    assert lines[1] == "status: rejected"
    rows = [line.split(None, 1) for line in lines[4:6]]
    assert rows == [["provider_changed", "from openai: to x: y"], ["parameters_reset", "2 rows"]]
