"""The rules a request is held to, as pure functions of facts read once: admission and the
final transaction apply the same ones."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from db.models import LlmModel, ModelMigration
from db.models.lifecycle import RequestStatus
from db.queries.repointing import OutOfScope
from jobs.validation import request_in_progress, retired_source, scope_findings


def model(**values: object) -> LlmModel:
    return LlmModel(id=uuid.uuid4(), provider="openai", name="gpt-4", **values)


def request(status: RequestStatus) -> ModelMigration:
    return ModelMigration(id=uuid.uuid4(), request_key="retire-gpt-4", status=status)


def test_a_live_source_passes_and_a_retired_one_says_how() -> None:
    assert retired_source(model()) is None
    gone = retired_source(None)
    assert gone is not None and gone.code == "source_deleted"
    deleted = retired_source(model(deleted_at=datetime.now(UTC)))
    assert deleted is not None
    assert (deleted.code, deleted.message) == ("source_deleted", "openai:gpt-4 is already deleted")
    successor = uuid.uuid4()
    migrated = retired_source(model(migrated_to_model_id=successor), "openai:gpt-4o")
    assert migrated is not None
    assert migrated.code == "source_migrated"
    assert migrated.message.endswith("migrated to openai:gpt-4o")
    unnamed = retired_source(model(migrated_to_model_id=successor))
    assert unnamed is not None and unnamed.message.endswith(str(successor))


def test_one_active_request_per_source_but_a_request_never_blocks_itself() -> None:
    source = model()
    assert request_in_progress(None, source) is None
    running = request(RequestStatus.RUNNING)
    assert request_in_progress(running, source, own=running.id) is None
    busy = request_in_progress(running, source)
    assert busy is not None
    assert (busy.code, busy.message) == (
        "migration_in_progress",
        "request retire-gpt-4 for openai:gpt-4 is running",
    )
    paused = request_in_progress(request(RequestStatus.PAUSED), source)
    assert paused is not None
    assert paused.message.endswith("(`lifecycle requests resume|cancel retire-gpt-4`)")


def test_the_scope_rules_name_what_is_out_of_scope_at_admission_and_since() -> None:
    team, other = uuid.uuid4(), uuid.uuid4()
    custom = model(team_id=team, security_level=2)
    nothing = OutOfScope({}, {})
    assert scope_findings(custom, None, nothing) == []
    assert scope_findings(custom, (team,), nothing) == []

    [named] = scope_findings(custom, (team, other), nothing)
    assert named.code == "team_scope_mismatch"
    assert named.message.endswith(f"also names team(s) {other}")

    found = OutOfScope({"apps": 2}, {"spaces": 1})
    admission = scope_findings(custom, None, found)
    assert [(f.code, f.message) for f in admission] == [
        (
            "team_scope_mismatch",
            f"target is team {team}'s custom model but other teams (or global configuration)"
            " use the source: 2 apps",
        ),
        (
            "security_level_insufficient",
            "spaces requiring a level above the target's (2) enable the source: 1 spaces",
        ),
    ]
    since = scope_findings(custom, None, found, meanwhile=True)
    assert [f.code for f in since] == [f.code for f in admission]
    assert all(
        f.message.endswith("; they were not moved and the source was not retired") for f in since
    )
    assert " now use the source" in since[0].message
