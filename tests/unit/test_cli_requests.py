"""How `lifecycle requests` prints requests and the answers of its controls."""

from __future__ import annotations

from datetime import UTC, datetime

from jobs.request_control import RequestSummary
from worker.cli.migrate import render_request
from worker.cli.requests import CONTROL_TEXT, render_requests

SOURCE = {"id": "1", "provider": "openai", "name": "gpt-4"}
TARGET = {"id": "2", "provider": "openai", "name": "gpt-4o"}


def summary(**values: object) -> RequestSummary:
    fields: dict[str, object] = {
        "request_key": "retire-gpt-4",
        "kind": "migration",
        "status": "running",
        "source": SOURCE,
        "target": TARGET,
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


def test_control_answers() -> None:
    paused = {"request_key": "k", "changed": True, "counts": {"apps": 5, "assistants": 3}}
    assert CONTROL_TEXT["pause"](paused, "k") == (
        "request k paused (8 rows moved); it keeps its source. `lifecycle requests resume k` "
        "carries on, `lifecycle requests cancel k` stops it for good"
    )
    resumed = {"request_key": "k", "changed": False, "job_id": "q:migrate_model:k:resume-1"}
    assert CONTROL_TEXT["resume"](resumed, "k") == (
        "request k was already resumed: job q:migrate_model:k:resume-1 carries it on from "
        "where it stopped (`lifecycle requests` shows its progress)"
    )
    running = {"request_key": "k", "changed": False, "job_id": None, "status": "running"}
    assert CONTROL_TEXT["resume"](running, "k") == "request k is running; nothing to resume"
    cleared = {"changed": True, "counts": {"apps": 2}, "source": SOURCE, "target": None}
    assert CONTROL_TEXT["cancel"](cleared, "k") == (
        "request k cancelled (2 rows moved); the rows cleared stay cleared, the rest stay on "
        "openai:gpt-4, which stays live and is free for a new request"
    )


def test_a_requests_findings_are_shown_from_their_records() -> None:
    report = {
        "status": "rejected",
        "dry_run": True,
        "kind": "migration",
        "source": SOURCE,
        "target": TARGET,
        "findings": [
            {"kind": "warning", "code": "provider_changed", "message": "from openai: to x: y"},
            {"kind": "info", "code": "parameters_reset", "message": "2 rows"},
        ],
    }
    lines = render_request(report).splitlines()
    assert lines[1] == "status: rejected"
    rows = [line.split(None, 1) for line in lines[4:6]]
    assert rows == [["provider_changed", "from openai: to x: y"], ["parameters_reset", "2 rows"]]
