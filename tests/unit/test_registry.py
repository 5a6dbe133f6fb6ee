import dataclasses

import pytest

from db.models import Base
from db.registry import REFERENCES, RegistryError, Role, Shape, check_identifiers

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
    assert by_label["pipelines"].shape is Shape.JSON_NODES
    assert by_label["spaces"].shape is Shape.LINK
    assert not by_label["assistants"].clearable
    assert by_label["templates"].soft_delete_column == "deleted_at"
    assert {r.label for r in REFERENCES if r.role is Role.HISTORY} == {"questions", "app_runs"}


def test_identifiers_are_checked_before_reaching_sql() -> None:
    check_identifiers(REFERENCES)
    evil = dataclasses.replace(REFERENCES[0], table="assistants; DROP TABLE users")
    with pytest.raises(RegistryError, match="unsafe identifier"):
        check_identifiers((evil,))


def test_duplicate_labels_are_refused() -> None:
    with pytest.raises(RegistryError, match="unique"):
        check_identifiers((REFERENCES[0], REFERENCES[0]))
