"""Pure parts of the fan-out and the sweeper: chunks, affected teams, keys, schedule."""

import uuid
from datetime import datetime

import pytest
from arq.cron import next_cron

from db.queries.notifications import TeamMessage
from jobs.notifications import CRONS, affected_teams, sweep_key, team_chunks
from jobs.registry import all_crons, job_spec
from worker.app import worker_kwargs
from worker.settings import load_settings


def _messages(n: int) -> list[TeamMessage]:
    return [TeamMessage(uuid.uuid4(), "t", "b", {}) for _ in range(n)]


@pytest.mark.parametrize(
    ("teams", "size", "sizes"),
    [(0, 3, []), (1, 3, [1]), (3, 3, [3]), (7, 3, [3, 3, 1]), (6, 1, [1] * 6)],
)
def test_team_chunks(teams: int, size: int, sizes: list[int]) -> None:
    messages = _messages(teams)
    chunks = team_chunks(messages, size)
    assert [len(c) for c in chunks] == sizes
    assert [m for c in chunks for m in c] == messages


def test_affected_teams_skips_empty_zero_and_malformed_entries() -> None:
    a, b = sorted([uuid.uuid4(), uuid.uuid4()])
    payload = {
        str(b): {"assistants": 1},
        "not-a-team": {"assistants": 5},
        str(uuid.uuid4()): {},
        str(uuid.uuid4()): {"apps": 0},
        str(a): {"apps": 0, "pipelines": 2},
    }
    assert affected_teams(payload) == [(a, {"apps": 0, "pipelines": 2}), (b, {"assistants": 1})]


@pytest.mark.parametrize(
    ("age", "key_suffix"),
    [(0.0, ""), (61.0, ""), (3599.9, ""), (3600.0, ":retry-1"), (7300.0, ":retry-2")],
)
def test_sweep_key(age: float, key_suffix: str) -> None:
    event_id = uuid.uuid4()
    assert sweep_key(event_id, age, 3600.0) == f"{event_id}{key_suffix}"


def test_sweep_runs_every_minute_on_the_minute() -> None:
    (cron,) = CRONS
    assert cron in all_crons()
    schedule = cron.schedule(load_settings())
    assert next_cron(datetime(2026, 1, 1, 10, 0, 5), **schedule) == datetime(
        2026, 1, 1, 10, 1, 0, 123_456
    )
    assert next_cron(datetime(2026, 1, 1, 10, 1, 0, 200_000), **schedule) == datetime(
        2026, 1, 1, 10, 2, 0, 123_456
    )
    names = [c.name for c in worker_kwargs(load_settings())["cron_jobs"]]
    assert "cron:sweep_outbox" in names


def test_jobs_are_registered_with_their_payloads() -> None:
    assert job_spec("fanout_event").payload.model_validate({"event_id": str(uuid.uuid4())})
    with pytest.raises(ValueError, match="event_id"):
        job_spec("fanout_event").payload.model_validate({"event_id": "nope"})
    with pytest.raises(ValueError, match="extra"):
        job_spec("sweep_outbox").payload.model_validate({"x": 1})
