"""The rules a request is held to, as pure functions of facts read once: admission and the
final transaction apply the same ones."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from db.models import LlmModel, ModelMigration
from db.models.lifecycle import RequestStatus
from jobs.validation import request_in_progress, retired_source


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
