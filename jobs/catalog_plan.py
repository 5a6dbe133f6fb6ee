"""Planning a catalog sync: the desired state of every listed model, compared with the
database's global models. Pure functions, so a dry run and a real run agree."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from db.keys import HostId
from db.models import LlmModel
from jobs.catalog_file import Catalog, CatalogModel, KnownModel, ModelKey, label

# Catalog field → llm_models column, in report order.
FIELDS: tuple[tuple[str, str], ...] = (
    ("display_name", "display_name"),
    ("litellm_model", "litellm_model"),
    ("token_limit", "token_limit"),
    ("vision", "supports_vision"),
    ("tools", "supports_tools"),
    ("reasoning", "supports_reasoning"),
    ("security_level", "security_level"),
    ("deprecated", "deprecated"),
)
EVERY_COLUMN = frozenset(column for _, column in FIELDS)


@dataclass
class Snapshot:
    """The global models as the sync found them."""

    live: dict[ModelKey, LlmModel]
    by_id: dict[HostId, LlmModel]
    known: dict[ModelKey, KnownModel]
    # The model columns the host keeps: a field it has no place for is never compared.
    stored: frozenset[str] = EVERY_COLUMN

    def fields(self) -> list[tuple[str, str]]:
        """The catalog fields this host keeps (field, column), in report order."""
        return [(name, column) for name, column in FIELDS if column in self.stored]


@dataclass
class Change:
    """The desired state of one listed model."""

    entry: CatalogModel
    current: LlmModel | None
    columns: dict[str, Any]
    replacement: ModelKey | None
    newly_deprecated: bool
    diff: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Plan:
    """Everything a sync will do; ``report`` is what the dry run prints."""

    changes: list[Change]
    deletions: list[tuple[LlmModel, ModelKey | None]]
    report: dict[str, Any]


def take_snapshot(rows: list[LlmModel], stored: frozenset[str] = EVERY_COLUMN) -> Snapshot:
    """Index global rows by key (the live row wins over soft-deleted ones) and by id."""
    live = {(m.provider, m.name): m for m in rows if m.deleted_at is None}
    known: dict[ModelKey, KnownModel] = {}
    for m in rows:
        key = (m.provider, m.name)
        if key in live and m.deleted_at is not None:
            continue
        known[key] = KnownModel(m.id, m.deleted_at is None, m.deprecated, m.deprecation_date)
    return Snapshot(live=live, by_id={m.id: m for m in rows}, known=known, stored=stored)


def _date_passed(when: date | None, today: date) -> bool:
    return when is not None and when <= today


def _desired(entry: CatalogModel, current: LlmModel | None, today: date) -> Change:
    def kept(value: Any, column: str, default: Any) -> Any:
        if value is not None:
            return value
        return getattr(current, column) if current is not None else default

    was_deprecated = current is not None and current.deprecated
    # A flag the catalog drops stays when litellm's date has already passed.
    deprecated = entry.deprecated or (
        was_deprecated and current is not None and _date_passed(current.deprecation_date, today)
    )
    if deprecated and not was_deprecated:
        source: str | None = "catalog"
    elif deprecated and current is not None:
        source = current.deprecation_source
    else:
        source = None
    columns = {
        "display_name": kept(entry.display_name, "display_name", entry.name),
        "litellm_model": kept(entry.litellm_model, "litellm_model", None),
        "token_limit": entry.token_limit,
        "supports_vision": entry.vision,
        "supports_tools": entry.tools,
        "supports_reasoning": entry.reasoning,
        "security_level": kept(entry.security_level, "security_level", None),
        "deprecated": deprecated,
        "deprecation_source": source,
    }
    return Change(
        entry=entry,
        current=current,
        columns=columns,
        replacement=entry.replacement_key(),
        newly_deprecated=deprecated and not was_deprecated,
    )


def _replacement_label(snap: Snapshot, model_id: HostId | None) -> str | None:
    if model_id is None:
        return None
    row = snap.by_id.get(model_id)
    return label((row.provider, row.name)) if row is not None else str(model_id)


def plan_sync(catalog: Catalog, snap: Snapshot, today: date) -> Plan:
    """Compare the catalog with the snapshot; pure, so a dry run and a real run agree."""
    changes: list[Change] = []
    created: list[dict[str, Any]] = []
    updated: list[dict[str, Any]] = []
    deprecated: list[dict[str, Any]] = []
    undeprecated: list[dict[str, Any]] = []
    unchanged = 0
    for entry in catalog.models:
        current = snap.live.get(entry.key)
        change = _desired(entry, current, today)
        target = change.replacement
        target_label = label(target) if target else None
        if current is None:
            fields = {name: change.columns[col] for name, col in snap.fields()}
            fields["replacement"] = target_label
            created.append({"model": label(entry.key), "fields": fields})
        else:
            for name, col in snap.fields():
                old, new = getattr(current, col), change.columns[col]
                if old != new:
                    change.diff[name] = {"from": old, "to": new}
            target_row = snap.live.get(target) if target else None
            wanted_id = target_row.id if target_row is not None else None
            if current.replacement_model_id != wanted_id or (target and target_row is None):
                old_label = _replacement_label(snap, current.replacement_model_id)
                change.diff["replacement"] = {"from": old_label, "to": target_label}
            if change.diff:
                updated.append(
                    {"model": label(entry.key), "id": current.id, "changes": change.diff}
                )
            else:
                unchanged += 1
            if current.deprecated and not change.columns["deprecated"]:
                undeprecated.append({"model": label(entry.key), "id": current.id})
        if change.newly_deprecated:
            deprecated.append(
                {
                    "model": label(entry.key),
                    "id": current.id if current else None,
                    "replacement": target_label,
                }
            )
        if current is None or change.diff:
            changes.append(change)

    deletions: list[tuple[LlmModel, ModelKey | None]] = []
    already_deleted: list[dict[str, Any]] = []
    for gone in catalog.deleted:
        row = snap.live.get(gone.key)
        if row is None:
            state = "soft_deleted" if gone.key in snap.known else "absent"
            already_deleted.append({"model": label(gone.key), "state": state})
        else:
            deletions.append((row, gone.replacement_key()))

    managed = {e.key for e in catalog.models} | {d.key for d in catalog.deleted}
    unmanaged = [
        {"model": label(key), "id": row.id}
        for key, row in sorted(snap.live.items())
        if key not in managed
    ]
    report = {
        "created": created,
        "updated": updated,
        "deprecated": deprecated,
        "undeprecated": undeprecated,
        "deleted": [],
        "already_deleted": already_deleted,
        "unmanaged": unmanaged,
        "unchanged": unchanged,
    }
    return Plan(changes=changes, deletions=deletions, report=report)


def delete_request_key(model_id: HostId, replacement_id: HostId | None) -> str:
    """The idempotency key of the deletion a ``[[deleted]]`` entry asks for.

    It names this model row and this replacement: a deletion once refused is asked again
    once the entry names another replacement, and a model re-created under the same name
    and deleted again is a new deletion.
    """
    return f"catalog-delete:{model_id}:{replacement_id or 'none'}"


def counts(report: dict[str, Any]) -> dict[str, int]:
    """How many models each section of a sync report names."""
    return {k: (v if isinstance(v, int) else len(v)) for k, v in report.items()}
