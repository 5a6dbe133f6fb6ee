"""The ``models`` view generated from a mapping (its SQL for the shipped mappings is
checked against golden files in ``tests/unit/test_golden_sql.py``)."""

from __future__ import annotations

from pathlib import Path

from db.platform.mapping import PlatformMapping, load_mapping, parse_mapping, reference_platform
from db.platform.model_view import ModelView
from tests.platforms import MAPPED_PLATFORMS

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
MAPPINGS = {"reference": reference_platform}
MAPPINGS.update({p.name: (lambda p=p: load_mapping(p.mapping)) for p in MAPPED_PLATFORMS})


def _view(mapping: PlatformMapping) -> ModelView:
    return ModelView(mapping, "lifecycle", mapping.host_schema)


def test_a_host_with_every_column_gets_a_plain_view_without_trigger() -> None:
    view = _view(reference_platform())
    assert view.is_plain()
    assert view.kept_by_worker() == []
    assert not any("TRIGGER models_write INSTEAD" in s for s in view.statements())


def test_state_the_host_lacks_is_kept_by_the_worker() -> None:
    ocs = next(p for p in MAPPED_PLATFORMS if p.name == "open-chat-studio")
    view = _view(load_mapping(ocs.mapping))
    assert not view.is_plain()
    assert view.kept_by_worker() == [
        "deprecation_date",
        "deprecation_source",
        "replacement_model_id",
        "migrated_to_model_id",
        "deleted_at",
    ]
    assert any("INSTEAD OF INSERT OR UPDATE OR DELETE" in s for s in view.statements())


def _joined_mapping(provider_column: str = "kind") -> PlatformMapping:
    data = {
        "platform": {"name": "joined"},
        "models": {
            "table": "ai_models",
            "provider": {"via": "provider_id", "table": "ai_providers", "column": provider_column},
            "name": "model_name",
            "token_limit": "context_tokens",
        },
        "teams": {"table": "orgs", "name": "title"},
        "recipients": {
            "query": "SELECT 1 AS team_id, 1 AS user_id, '' AS email WHERE 1 = ANY(:team_ids)"
        },
        "references": [{"label": "bots", "table": "bots", "column": "ai_model_id", "role": "live"}],
    }
    return parse_mapping(data)


def test_a_joined_column_is_read_through_its_foreign_key_and_written_by_lookup() -> None:
    view = _view(_joined_mapping())
    script = view.script()
    assert (
        '(SELECT j."kind" FROM "public"."ai_providers" j WHERE j."id" = m."provider_id")' in script
    )
    assert "no row of ai_providers has kind = %" in script
    assert view.kept_by_worker() == [
        "deprecated",
        "deprecation_date",
        "deprecation_source",
        "replacement_model_id",
        "migrated_to_model_id",
        "deleted_at",
    ]


def test_the_fingerprint_names_the_definition() -> None:
    assert _view(_joined_mapping()).fingerprint() == _view(_joined_mapping()).fingerprint()
    assert _view(_joined_mapping()).fingerprint() != _view(_joined_mapping("code")).fingerprint()
    moved = ModelView(_joined_mapping(), "lifecycle_b", "public")
    assert moved.fingerprint() != _view(_joined_mapping()).fingerprint()
