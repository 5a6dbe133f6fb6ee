"""The model catalog file: TOML parsing, structure and consistency checks.

Everything here is pure (no database): the checks that need the database's state take a
snapshot of the global models (:class:`KnownModel`) as an argument.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from db.keys import HostId
from jobs.spec import INT4_MAX, refuse_nul

PROVIDER = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
NAME = re.compile(r"^[^\s:\x00][^\s\x00]{0,199}$")

ModelKey = tuple[str, str]


class CatalogError(ValueError):
    """The catalog is refused; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"catalog refused ({len(errors)} error(s)): " + "; ".join(errors))
        self.errors = errors


def label(key: ModelKey) -> str:
    """``provider:name``."""
    return f"{key[0]}:{key[1]}"


def _check_provider(value: str) -> str:
    if not PROVIDER.match(value):
        raise ValueError(f"unknown provider syntax {value!r} (letters, digits, _ . - only)")
    return value


def _check_name(value: str) -> str:
    if not NAME.match(value):
        raise ValueError(f"invalid model name {value!r} (no spaces, must not start with ':')")
    return value


def parse_replacement(value: str, default_provider: str) -> ModelKey:
    """``name`` (same provider) or ``provider:name`` → a model key; ValueError if malformed."""
    provider, sep, name = value.partition(":")
    if not sep:
        provider, name = default_provider, value
    _check_provider(provider)
    _check_name(name)
    return provider, name


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    provider: str
    name: str
    replacement: str | None = None

    _no_nul = field_validator("*")(refuse_nul)

    @field_validator("provider")
    @classmethod
    def _provider(cls, value: str) -> str:
        return _check_provider(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)

    @field_validator("replacement")
    @classmethod
    def _replacement(cls, value: str | None) -> str | None:
        if value is not None:
            parse_replacement(value, "x")
        return value

    @property
    def key(self) -> ModelKey:
        return self.provider, self.name

    def replacement_key(self) -> ModelKey | None:
        """The replacement as a key (same provider unless written ``provider:name``)."""
        if self.replacement is None:
            return None
        return parse_replacement(self.replacement, self.provider)


class CatalogModel(_Entry):
    """One ``[[models]]`` entry. Optional fields left out keep the database's value."""

    token_limit: int = Field(ge=1, le=INT4_MAX)
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    litellm_model: str | None = Field(default=None, min_length=1, max_length=200)
    security_level: int | None = Field(default=None, ge=0, le=INT4_MAX)
    vision: bool = False
    tools: bool = False
    reasoning: bool = False
    deprecated: bool = False


class DeletedModel(_Entry):
    """One ``[[deleted]]`` entry."""


@dataclass(frozen=True)
class Catalog:
    """A structurally valid catalog."""

    models: tuple[CatalogModel, ...]
    deleted: tuple[DeletedModel, ...]


@dataclass(frozen=True)
class KnownModel:
    """What the consistency checks need to know about a global model in the database."""

    id: HostId
    live: bool
    deprecated: bool
    deprecation_date: date | None


def read_catalog_file(text: str) -> dict[str, Any]:
    """Parse TOML text; a syntax error becomes a :class:`CatalogError`."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError([f"not valid TOML: {exc}"]) from exc


def _describe(where: str, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        out.append(f"{where}{'.' + field if field else ''}: {msg}")
    return out


def _section(
    raw: Mapping[str, Any], section: str, kind: type[_Entry], errors: list[str]
) -> tuple[list[Any], set[ModelKey]]:
    """Valid entries of one array of tables, plus the keys of the invalid ones we can read."""
    items = raw.get(section, [])
    if not isinstance(items, list):
        errors.append(f"{section}: must be an array of tables ([[{section}]])")
        return [], set()
    valid: list[Any] = []
    unreadable: set[ModelKey] = set()
    for i, item in enumerate(items):
        where = f"{section}[{i}]"
        if not isinstance(item, dict):
            errors.append(f"{where}: must be a table")
            continue
        try:
            valid.append(kind.model_validate(item))
        except ValidationError as exc:
            errors.extend(_describe(where, exc))
            provider, name = item.get("provider"), item.get("name")
            if isinstance(provider, str) and isinstance(name, str):
                unreadable.add((provider, name))
    return valid, unreadable


def _resolve_target(
    who: str,
    target: ModelKey,
    listed: Mapping[ModelKey, CatalogModel],
    deleted: set[ModelKey],
    unreadable: set[ModelKey],
    known: Mapping[ModelKey, KnownModel],
    today: date,
) -> str | None:
    """Why ``target`` cannot serve as a replacement, or ``None`` if it can."""
    name = label(target)
    if target in deleted:
        return f"{who}: replacement {name} is deleted (listed under [[deleted]])"
    db = known.get(target)
    db_live = db if db is not None and db.live else None
    litellm_passed = (
        db_live is not None
        and db_live.deprecated
        and db_live.deprecation_date is not None
        and db_live.deprecation_date <= today
    )
    if target in listed:
        if listed[target].deprecated:
            return f"{who}: replacement {name} is itself deprecated"
        if litellm_passed:
            return f"{who}: replacement {name} is deprecated (its litellm date has passed)"
        return None
    if target in unreadable:
        return None  # already reported as invalid; do not pile a second error on it
    if db_live is not None:
        if db_live.deprecated:
            return f"{who}: replacement {name} is itself deprecated"
        return None
    if db is not None:
        return f"{who}: replacement {name} is deleted"
    return f"{who}: unknown replacement {name} (not in the catalog or the database)"


def _cycles(edges: Mapping[ModelKey, ModelKey]) -> list[list[ModelKey]]:
    """Each replacement cycle once, starting from its smallest key."""
    found: dict[tuple[ModelKey, ...], list[ModelKey]] = {}
    for start in edges:
        path: list[ModelKey] = []
        node: ModelKey | None = start
        while node is not None and node in edges and node not in path:
            path.append(node)
            node = edges[node]
        if node is not None and node in path:
            cycle = path[path.index(node) :]
            i = cycle.index(min(cycle))
            canonical = cycle[i:] + cycle[:i]
            found.setdefault(tuple(canonical), canonical)
    return [found[k] for k in sorted(found)]


def validate_catalog(
    raw: Mapping[str, Any], known: Mapping[ModelKey, KnownModel], today: date
) -> Catalog:
    """Check structure and consistency; raise :class:`CatalogError` listing every problem.

    ``known`` maps each global model key in the database to its state (a live row if
    there is one, else a deleted one).
    """
    errors: list[str] = []
    if not isinstance(raw, Mapping):
        raise CatalogError(["the catalog must be a TOML document (a table)"])
    unknown = sorted(set(raw) - {"models", "deleted"})
    errors += [f"{key}: unknown top-level key (only [[models]], [[deleted]])" for key in unknown]
    models, bad_models = _section(raw, "models", CatalogModel, errors)
    deleted, bad_deleted = _section(raw, "deleted", DeletedModel, errors)

    listed: dict[ModelKey, CatalogModel] = {}
    for entry in models:
        if entry.key in listed:
            errors.append(f"models: duplicate entry {label(entry.key)}")
        listed.setdefault(entry.key, entry)
    deleted_keys: set[ModelKey] = set()
    for gone in deleted:
        if gone.key in deleted_keys:
            errors.append(f"deleted: duplicate entry {label(gone.key)}")
        deleted_keys.add(gone.key)
    errors += [
        f"{label(key)}: both listed under [[models]] and [[deleted]]"
        for key in sorted(deleted_keys & (set(listed) | bad_models))
    ]

    unreadable = bad_models | bad_deleted
    edges: dict[ModelKey, ModelKey] = {}
    for entry in models:  # duplicates too: every error is listed, not just the first
        target = entry.replacement_key()
        if target is None:
            continue
        if target == entry.key:
            errors.append(f"models {label(entry.key)}: replacement cycle: it replaces itself")
            continue
        if target in listed:
            edges.setdefault(entry.key, target)
        problem = _resolve_target(
            f"models {label(entry.key)}", target, listed, deleted_keys, unreadable, known, today
        )
        if problem:
            errors.append(problem)
    for cycle in _cycles(edges):
        chain = " → ".join(label(k) for k in [*cycle, cycle[0]])
        errors.append(f"replacement cycle: {chain}")
    for gone in deleted:
        target = gone.replacement_key()
        if target is None:
            continue
        if target == gone.key:
            errors.append(f"deleted {label(gone.key)}: cannot be its own replacement")
            continue
        problem = _resolve_target(
            f"deleted {label(gone.key)}", target, listed, deleted_keys, unreadable, known, today
        )
        if problem:
            errors.append(problem)
    if errors:
        raise CatalogError(errors)
    return Catalog(models=tuple(models), deleted=tuple(deleted))


def parse_deleted_entries(raw: Mapping[str, Any]) -> tuple[DeletedModel, ...]:
    """Only the ``[[deleted]]`` entries (for prune-check); structural errors are raised."""
    errors: list[str] = []
    deleted, _ = _section(raw, "deleted", DeletedModel, errors)
    if errors:
        raise CatalogError(errors)
    return tuple(deleted)
