import dataclasses

import pytest

from db.models import Base
from db.platform.host import reference_host
from db.reference import NotLive, RegistryError, Role, Shape, check_identifiers

REFERENCES = reference_host().references

LIFECYCLE_TABLES = {
    "model_migrations",
    "lifecycle_events",
    "notifications",
    "audit_events",
    "lifecycle_runs",
    "llm_models",
}


def test_every_foreign_key_to_llm_models_is_registered() -> None:
    registered = {(r.table, r.column) for r in REFERENCES}
    fks = {
        (table.name, fk.parent.name)
        for table in Base.metadata.tables.values()
        if table.name not in LIFECYCLE_TABLES
        for fk in table.foreign_keys
        if fk.column.table.name == "llm_models"
    }
    assert fks, "expected platform tables to reference llm_models"
    assert fks <= registered, f"unregistered references: {sorted(fks - registered)}"


def test_registry_shapes_and_roles() -> None:
    by_label = {r.label: r for r in REFERENCES}
    assert by_label["pipelines"].shape is Shape.JSON
    assert by_label["spaces"].shape is Shape.LINK
    assert not by_label["assistants"].clearable
    assert by_label["templates"].not_live == (NotLive("deleted_at"),)
    assert {r.label for r in REFERENCES if r.role is Role.HISTORY} == {"questions", "app_runs"}


def test_identifiers_are_checked_before_reaching_sql() -> None:
    check_identifiers(REFERENCES)
    evil = dataclasses.replace(REFERENCES[0], table="assistants; DROP TABLE users")
    with pytest.raises(RegistryError, match="unsafe identifier"):
        check_identifiers((evil,))


def test_duplicate_labels_are_refused() -> None:
    with pytest.raises(RegistryError, match="unique"):
        check_identifiers((REFERENCES[0], REFERENCES[0]))


def test_json_keys_are_checked_before_reaching_sql() -> None:
    pipelines = next(r for r in REFERENCES if r.shape is Shape.JSON)
    assert pipelines.json is not None
    evil = dataclasses.replace(
        pipelines, json=dataclasses.replace(pipelines.json, keys=("nodes", "x}'", "id"))
    )
    with pytest.raises(RegistryError, match="unsafe identifier"):
        check_identifiers((evil,))
