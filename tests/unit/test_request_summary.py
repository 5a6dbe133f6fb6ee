"""What `lifecycle requests` shows of a request: rows done of planned, the rate of its
latest run and the time left at that rate."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from db.models import ModelMigration
from db.queries.requests import RequestTotals, RunRows
from jobs.request_control import summarize

T0 = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)


def request(status: str, **values: Any) -> ModelMigration:
    return ModelMigration(
        id=uuid.uuid4(),
        kind="migration",
        request_key="k",
        status=status,
        from_model_id=1,
        from_provider="openai",
        from_model_name="gpt-4",
        to_model_id=2,
        to_provider="openai",
        to_model_name="gpt-4o",
        warnings=[],
        created_at=T0,
        **values,
    )


# Planned 600 assistants and 400 apps; 250 assistants done.
TOTALS = RequestTotals(done=250, planned=1000)


def test_running_request_rate_and_time_left() -> None:
    row = request("running", counts={}, run_started_at=T0)
    got = summarize(
        row, RunRows(250, T0 + timedelta(seconds=9), T0 + timedelta(seconds=10)), TOTALS
    )
    assert (got.done, got.planned, got.rows_per_s, got.eta_s) == (250, 1000, 25.0, 30.0)
    assert got.teams is None
    assert got.source.model_dump(mode="json") == {"id": "1", "provider": "openai", "name": "gpt-4"}


def test_resumed_request_rate_counts_only_its_latest_run() -> None:
    resumed = T0 + timedelta(hours=1)
    row = request("running", counts={}, run_started_at=resumed)
    # 50 of the 250 rows done moved since the resume, 5 s ago.
    got = summarize(row, RunRows(50, resumed, resumed + timedelta(seconds=5)), TOTALS)
    assert (got.rows_per_s, got.eta_s) == (10.0, 75.0)


def test_paused_request_has_its_rate_up_to_the_last_batch_and_no_time_left() -> None:
    row = request("paused", counts={"assistants": 250}, run_started_at=T0)
    got = summarize(row, RunRows(250, T0 + timedelta(seconds=5), T0 + timedelta(hours=2)), TOTALS)
    assert (got.done, got.rows_per_s, got.eta_s) == (250, 50.0, None)


def test_succeeded_request_counts_every_row_and_has_nothing_left() -> None:
    row = request(
        "succeeded",
        counts={"assistants": 600, "apps": 401},
        run_started_at=T0,
        finished_at=T0 + timedelta(seconds=20),
    )
    got = summarize(row, RunRows(1001, T0 + timedelta(seconds=19), T0 + timedelta(days=1)), TOTALS)
    assert (got.done, got.planned, got.rows_per_s, got.eta_s) == (1001, 1000, 50.0, 0.0)


def test_request_that_never_started_has_no_rate() -> None:
    row = request("pending", counts={})
    got = summarize(row, RunRows(0, None, T0), RequestTotals(done=0, planned=3))
    assert (got.done, got.planned, got.rows_per_s, got.eta_s) == (0, 3, None, None)
