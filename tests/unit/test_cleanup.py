"""Cleanup without services: schedule and timezone, eligibility order, payload, report."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from arq.cron import next_cron
from pydantic import ValidationError

from db.queries.cleanup import Holders
from jobs.cleanup import CRONS, CleanupPayload, blocking_reason, run_mode, weekly_schedule
from worker.app import worker_kwargs
from worker.cli.cleanup import render_report
from worker.settings import load_settings


def _next_run(after: datetime, timezone: str) -> datetime:
    settings = load_settings({}, timezone=timezone)
    return next_cron(after.astimezone(settings.zone), **weekly_schedule(settings))


@pytest.mark.parametrize(
    ("timezone", "after", "expected_utc"),
    [
        ("UTC", datetime(2026, 11, 21, 12, 0, tzinfo=UTC), datetime(2026, 11, 22, 4, 0)),
        # New York is UTC-5 in November: 04:00 there is 09:00 UTC.
        (
            "America/New_York",
            datetime(2026, 11, 21, 12, 0, tzinfo=UTC),
            datetime(2026, 11, 22, 9, 0),
        ),
        # Summer time: UTC-4.
        ("America/New_York", datetime(2026, 7, 1, 0, 0, tzinfo=UTC), datetime(2026, 7, 5, 8, 0)),
        # Berlin is ahead of UTC: Sunday 04:00 there is Sunday 03:00 UTC.
        ("Europe/Berlin", datetime(2026, 11, 21, 12, 0, tzinfo=UTC), datetime(2026, 11, 22, 3, 0)),
        # Just past this week's run in UTC: next Sunday.
        ("UTC", datetime(2026, 11, 22, 4, 0, 1, tzinfo=UTC), datetime(2026, 11, 29, 4, 0)),
        # Already Sunday 04:30 UTC, but still Saturday 23:30 in New York: today, 09:00 UTC.
        (
            "America/New_York",
            datetime(2026, 11, 22, 4, 30, tzinfo=UTC),
            datetime(2026, 11, 22, 9, 0),
        ),
    ],
)
def test_timezone_setting_moves_the_weekly_run(
    timezone: str, after: datetime, expected_utc: datetime
) -> None:
    run_at = _next_run(after, timezone)
    local = run_at.astimezone(ZoneInfo(timezone))
    assert (local.weekday(), local.hour, local.minute, local.second) == (6, 4, 0, 0)
    assert run_at.astimezone(UTC).replace(tzinfo=None, microsecond=0) == expected_utc


def test_worker_schedules_the_cleanup_cron_in_the_configured_zone() -> None:
    settings = load_settings({}, timezone="America/New_York")
    kwargs = worker_kwargs(settings)
    [cron_job] = [c for c in kwargs["cron_jobs"] if c.name == "cron:cleanup_retired_models"]
    assert kwargs["timezone"] == ZoneInfo("America/New_York")
    assert (cron_job.weekday, cron_job.hour, cron_job.minute, cron_job.second) == (6, 4, 0, 0)
    # unique: the job id is fixed per instant, so several workers enqueue it once.
    assert cron_job.unique and cron_job.job_id is None and not cron_job.run_at_startup
    [spec] = [c for c in CRONS if c.job == "cleanup_retired_models"]
    assert spec.payload == {"dry_run": False, "trigger": "cron"}


def test_payload_defaults_and_refusals() -> None:
    assert CleanupPayload().model_dump() == {"dry_run": False, "trigger": "manual"}
    assert CleanupPayload(dry_run=True, trigger="catch_up").trigger == "catch_up"
    with pytest.raises(ValidationError):
        CleanupPayload.model_validate({"trigger": "weekly"})
    with pytest.raises(ValidationError):
        CleanupPayload.model_validate({"dry_run": False, "force": True})


@pytest.mark.parametrize(
    ("payload", "mode", "expected"),
    [
        ({"trigger": "cron"}, "delete", "delete"),
        ({"trigger": "cron"}, "report", "report"),
        ({"trigger": "catch_up"}, "report", "report"),
        ({"trigger": "catch_up", "dry_run": True}, "delete", "dry_run"),
        ({"trigger": "manual"}, "report", "delete"),
        ({"trigger": "manual", "dry_run": True}, "report", "dry_run"),
    ],
)
def test_the_mode_governs_scheduled_runs_only(
    payload: dict[str, Any], mode: str, expected: str
) -> None:
    assert run_mode(CleanupPayload.model_validate(payload), mode) == expected  # type: ignore[arg-type]


def test_a_report_mode_run_says_it_deleted_nothing() -> None:
    model = {"model_id": "m1", "provider": "openai", "name": "gpt-3"}
    report = {"run_id": "r1", "dry_run": True, "mode": "report", "removed": [model]}
    report |= {"skipped": [], "errors": [], "deferred": 0, "duration_s": 0.1}
    lines = render_report(report).splitlines()
    assert lines[0] == (
        "cleanup report-only run (LIFECYCLE_CLEANUP_MODE=report: nothing deleted) r1: "
        "1 would remove, 0 skipped, 0 errors, 0 deferred to the next run, 0.10s"
    )
    assert lines[2] == "would remove"


A, B = uuid.uuid4(), uuid.uuid4()


@pytest.mark.parametrize(
    ("holders", "gone", "expected"),
    [
        (Holders([], [], []), set(), None),
        (
            Holders(["questions"], ["assistants"], [A]),
            set(),
            ("history_references", {"labels": ["questions"]}),
        ),
        (Holders([], ["spaces"], [A]), set(), ("live_references", {"labels": ["spaces"]})),
        (Holders([], [], [A, B]), {A}, ("migration_pointer", {"models": [B]})),
        (Holders([], [], [A, B]), {A, B}, None),
    ],
    ids=["free", "history-first", "live-before-pointer", "pointer-minus-gone", "all-gone"],
)
def test_blocking_reason(
    holders: Holders, gone: set[uuid.UUID], expected: tuple[str, dict[str, Any]] | None
) -> None:
    assert blocking_reason(holders, gone) == expected


def test_report_prints_tables_per_outcome() -> None:
    report = {
        "run_id": "r1",
        "dry_run": False,
        "removed": [
            {"model_id": "m1", "provider": "openai", "name": "gpt-3", "repointed": {"templates": 2}}
        ],
        "skipped": [
            {
                "model_id": "m2",
                "provider": "openai",
                "name": "gpt-4",
                "reason": "history_references",
                "labels": ["questions", "app_runs"],
            },
            {
                "model_id": "m3",
                "provider": "openai",
                "name": "gpt-4-32k",
                "reason": "migration_pointer",
                "models": ["m9"],
            },
        ],
        "errors": [],
        "deferred": 4,
        "duration_s": 0.5,
    }
    text = render_report(report)
    assert text.splitlines()[0] == (
        "cleanup run r1: 1 removed, 2 skipped, 0 errors, 4 deferred to the next run, 0.50s"
    )
    assert "openai    gpt-3  m1        templates: 2" in text
    assert "history_references  questions, app_runs" in text
    assert "migration_pointer   migrated here: m9" in text
    assert "errors" not in text.splitlines()[1:]
