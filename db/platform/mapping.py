"""The platform mapping: how the worker reads a host's own schema (a TOML file).

A platform adopts the worker by describing its schema, never by changing it: the model
table and its columns (or columns one foreign key away), the lifecycle state columns it
has, teams, the recipients query, and every place that refers to a model. The built-in
reference platform is one such mapping (``reference.toml`` beside this module), used when
``LIFECYCLE_PLATFORM_FILE`` is not set.

Loading validates the file whole: unknown keys are refused and every error is listed.
Identifiers are plain lower-case SQL names, checked here before any reaches a statement.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
)

from db.reference import (
    NOW,
    RESET_LITERALS,
    IdForm,
    JsonPath,
    NotLive,
    Reference,
    Role,
    Shape,
    TeamVia,
)

REFERENCE_PLATFORM_FILE = Path(__file__).with_name("reference.toml")

_IDENTIFIER = r"^[a-z_][a-z0-9_]{0,62}$"
Identifier = Annotated[str, StringConstraints(pattern=_IDENTIFIER, strict=True)]
# A JSON path inside a jsonb column: keys joined by dots, ``[*]`` after a key for arrays.
_PATH_STEP = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\[\*\])?$")
# The recipients query's parameters: ``:team_ids`` (required) and ``:permission``.
_BIND = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
# What may follow a query's closing ``;``: more of them, whitespace, ``--`` comments.
_AFTER_THE_END = re.compile(r"(?:\s|;|--[^\n]*)*")
RECIPIENT_PARAMS = {"team_ids", "permission"}
RECIPIENT_COLUMNS = ("team_id", "user_id", "email")
_RECIPIENT_BIND = re.compile(r"(?<![:\w]):(team_ids|permission)\b")
# The JSON form new ids are written in (either form is matched when reading).
JsonId = Literal["string", "number"]
# A constant the worker writes (``insert``) or compares with (``filter``); a string is read
# as the column's type (``"now()"``: the time of the write, in ``insert`` only).
ConstantValue = (
    StrictBool
    | StrictInt
    | Annotated[str, StringConstraints(max_length=1_000, pattern=r"^[^\x00]*$", strict=True)]
)
Constants = dict[Identifier, ConstantValue]


class MappingError(ValueError):
    """The mapping file is unreadable or invalid; ``problems`` lists every error."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Joined(_Strict):
    """A column of a table the model table references through one foreign key."""

    via: Identifier = Field(description="the model table's foreign-key column")
    table: Identifier
    column: Identifier
    key: Identifier = "id"
    filter: Constants = Field(
        default_factory=dict,
        description="column = constant, ANDed: which rows of the table a value may name",
    )


Column = Identifier | Joined


class ModelState(_Strict):
    """Lifecycle state columns the host has; the worker keeps the others in its schema."""

    deprecated: Identifier | None = None
    deprecation_date: Identifier | None = None
    deprecation_source: Identifier | None = None
    replacement: Identifier | None = None
    migrated_to: Identifier | None = None
    deleted_at: Identifier | None = None

    def kept_by_worker(self) -> list[str]:
        """State with no host column, which the worker keeps keyed by model id."""
        return [name for name, value in self.model_dump().items() if value is None]


class Models(_Strict):
    table: Identifier
    id: Identifier = "id"
    provider: Column
    name: Column
    team: Identifier | None = Field(None, description="NULL = a global model")
    token_limit: Column
    display_name: Column | None = None
    litellm_model: Column | None = None
    vision: Column | None = None
    tools: Column | None = None
    reasoning: Column | None = None
    security_level: Column | None = None
    created_at: Identifier | None = None
    updated_at: Identifier | None = None
    state: ModelState = ModelState()
    insert: Constants = Field(
        default_factory=dict,
        description="other NOT NULL columns a new model row needs: column = constant",
    )

    def joined(self) -> dict[str, Joined]:
        """Fields read from a table one foreign key away."""
        return {k: v for k, v in self._fields().items() if isinstance(v, Joined)}

    def _fields(self) -> dict[str, Column]:
        names = ["provider", "name", "token_limit", "display_name", "litellm_model"]
        names += ["vision", "tools", "reasoning", "security_level"]
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def columns(self) -> dict[str, str]:
        """Field → column of the model table itself (state and timestamps included)."""
        own: dict[str, str] = {"id": self.id}
        own.update({k: v for k, v in self._fields().items() if isinstance(v, str)})
        own.update({k: v.via for k, v in self.joined().items()})
        for name in ("team", "created_at", "updated_at"):
            if getattr(self, name):
                own[name] = getattr(self, name)
        own.update({f"state.{k}": v for k, v in self.state.model_dump().items() if v})
        return own


class Teams(_Strict):
    table: Identifier
    id: Identifier = "id"
    slug: Identifier | None = None
    name: Identifier


class Recipients(_Strict):
    query: str = Field(min_length=1, max_length=20_000)

    def sql(self) -> str:
        """The query as it runs: on its own, without a closing ``;`` and what follows it."""
        return one_statement(self.query)


def one_statement(query: str) -> str:
    """``query`` up to a ``;`` that only whitespace and ``--`` comments follow (the
    whole query, stripped, when there is none)."""
    query = query.strip()
    end = query.find(";")
    if end >= 0 and _AFTER_THE_END.fullmatch(query, end + 1):
        return query[:end].rstrip()
    return query


class TeamThrough(_Strict):
    """The team of a row reached through a parent table (``via → table.key``)."""

    via: Identifier
    table: Identifier
    column: Identifier
    key: Identifier = "id"
    min_security_level: Identifier | None = None


class JsonPlace(_Strict):
    """A model id inside a jsonb column, at ``path``."""

    column: Identifier
    path: str = Field(min_length=1, max_length=300)
    id_as: JsonId = "string"

    def steps(self) -> list[tuple[str, bool]]:
        """``[(key, is_array), …]`` along the path."""
        return [(s.removesuffix("[*]"), s.endswith("[*]")) for s in self.path.split(".")]


class ParameterColumn(_Strict):
    """A jsonb column of model parameters (``temperature``, ``max_tokens`` …) kept with the
    reference: ``translate`` carries them to the target, ``reset`` empties them."""

    column: Identifier
    mode: Literal["translate", "reset"] = "translate"


class ReferenceEntry(_Strict):
    label: Identifier
    table: Identifier
    role: Literal["live", "history"]
    column: Identifier | None = None
    json_: JsonPlace | None = Field(None, alias="json")
    json_copy: JsonPlace | None = None
    key: Identifier = "id"
    team: Identifier | TeamThrough | None = None
    soft_delete: Identifier | None = None
    archived: Identifier | None = None
    clearable: bool = False
    link: bool = False
    reset: dict[Identifier, Literal["empty_object"]] = {}
    parameters: ParameterColumn | None = None
    insert: Constants = Field(
        default_factory=dict,
        description="link: the table's other NOT NULL columns a move fills in a new row",
    )
    created_at: Identifier | None = Field(
        None, description="history: when the row was produced (recent usage in notifications)"
    )

    def place(self) -> str:
        """Where the id is kept, for messages: ``table.column`` or ``table.column -> path``."""
        if self.json_ is not None:
            return f"{self.table}.{self.json_.column} -> {self.json_.path}"
        return f"{self.table}.{self.column}"


class PlatformInfo(_Strict):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
    schema_: Identifier = Field("public", alias="schema")


class PlatformMapping(_Strict):
    """A whole mapping file, validated."""

    platform: PlatformInfo
    models: Models
    teams: Teams
    recipients: Recipients
    references: list[ReferenceEntry] = Field(min_length=1)

    @property
    def name(self) -> str:
        return self.platform.name

    @property
    def host_schema(self) -> str:
        return self.platform.schema_

    def live(self) -> list[ReferenceEntry]:
        return [r for r in self.references if r.role == "live"]

    def registry_references(self) -> tuple[Reference, ...]:
        """The entries as the SQL builders take them (every mapped shape)."""
        return tuple(_to_reference(entry) for entry in self.references)


def _json_path(place: JsonPlace) -> JsonPath:
    """The builders' form of a validated path (at most one array step, not the last)."""
    steps = place.steps()
    arrays = [i for i, (_, is_array) in enumerate(steps) if is_array]
    return JsonPath(
        place.column,
        tuple(key for key, _ in steps),
        array_at=arrays[0] if arrays else None,
        id_as=IdForm(place.id_as),
    )


def _path_problems(name: str, place: JsonPlace) -> list[str]:
    """Why the builders cannot follow ``place.path`` (empty: they can)."""
    bad = [s for s in place.path.split(".") if not _PATH_STEP.match(s)]
    if bad:
        return [
            f"{name}.path {place.path!r} has invalid step(s) {bad} "
            "(keys joined by '.', '[*]' after a key that holds an array)"
        ]
    steps = place.steps()
    problems = []
    if sum(is_array for _, is_array in steps) > 1:
        problems.append(
            f"{name}.path {place.path!r} steps into more than one array: at most one "
            "'[*]' is supported (an id inside arrays of arrays cannot be moved)"
        )
    if steps[-1][1]:
        problems.append(
            f"{name}.path {place.path!r} ends in '[*]': the last key must hold the id "
            "itself, not an array of ids"
        )
    return problems


def _to_reference(entry: ReferenceEntry) -> Reference:
    team = entry.team
    via = None
    if isinstance(team, TeamThrough):
        via = TeamVia(
            team.table,
            team.via,
            team.column,
            level_column=team.min_security_level,
            parent_key=team.key,
        )
    shape = Shape.LINK if entry.link else Shape.COLUMN
    column = entry.column or ""
    path = None
    if entry.json_ is not None:
        shape, column, path = Shape.JSON, entry.json_.column, _json_path(entry.json_)
    not_live = [NotLive(entry.soft_delete)] if entry.soft_delete else []
    not_live += [NotLive(entry.archived, boolean=True)] if entry.archived else []
    return Reference(
        entry.label,
        entry.table,
        column,
        Role(entry.role),
        shape=shape,
        team_column=team if isinstance(team, str) else None,
        team_via=via,
        not_live=tuple(not_live),
        clearable=entry.clearable,
        json=path,
        json_copy=_json_path(entry.json_copy) if entry.json_copy is not None else None,
        key_column=entry.key,
        reset_on_move=tuple(entry.reset.items()) + _parameters_reset(entry.parameters),
        parameters=(
            entry.parameters.column
            if entry.parameters is not None and entry.parameters.mode == "translate"
            else None
        ),
        time_column=entry.created_at,
        insert_values=tuple(entry.insert.items()),
    )


def _parameters_reset(parameters: ParameterColumn | None) -> tuple[tuple[str, str], ...]:
    if parameters is None or parameters.mode != "reset":
        return ()
    return ((parameters.column, "empty_object"),)


def _parameter_problems(ref: ReferenceEntry, parameters: ParameterColumn) -> list[str]:
    column = parameters.column
    problems = []
    if column in ref.reset:
        problems.append(f"{column!r} is both in 'reset' and in 'parameters'")
    id_columns = {ref.column, *(p.column for p in (ref.json_, ref.json_copy) if p)}
    if column in id_columns:
        problems.append(f"'parameters' names {column!r}, which holds the model id")
    if parameters.mode == "reset" and ref.column is None:
        problems.append("'parameters' in reset mode goes with a 'column' reference")
    return problems


def _semantic_problems(mapping: PlatformMapping) -> list[str]:
    """What the schema of the file cannot say: cross-field rules, all of them at once."""
    problems: list[str] = []
    labels = [r.label for r in mapping.references]
    for label in sorted({x for x in labels if labels.count(x) > 1}):
        problems.append(f"references: label {label!r} is used more than once")
    for ref in mapping.references:
        where = f'references["{ref.label}"]'
        if (ref.column is None) == (ref.json_ is None):
            problems.append(f"{where}: give exactly one of 'column' or 'json'")
        for name, place in (("json", ref.json_), ("json_copy", ref.json_copy)):
            if place is not None:
                problems += [f"{where}: {p}" for p in _path_problems(name, place)]
        if ref.json_copy is not None and ref.column is None:
            problems.append(f"{where}: 'json_copy' goes with 'column' (the id's JSON copy)")
        if ref.link:
            if ref.column is None:
                problems.append(f"{where}: a link table keeps the id in a 'column'")
            if not isinstance(ref.team, TeamThrough):
                problems.append(f"{where}: a link table reaches its team through its parent")
            if ref.key == "id":
                problems.append(f"{where}: a link table's 'key' is its parent's column")
        if ref.reset and (ref.column is None or ref.link):
            problems.append(
                f"{where}: 'reset' goes with a 'column' reference that is not a 'link': "
                "a JSON id or a link row has no columns of its own to reset"
            )
        if ref.role == "history" and (ref.clearable or ref.reset or ref.parameters):
            problems.append(
                f"{where}: history is never moved: no 'clearable', 'reset' or 'parameters'"
            )
        if ref.link and ref.parameters:
            problems.append(f"{where}: a link table has no model 'parameters'")
        if ref.parameters:
            problems += [f"{where}: {p}" for p in _parameter_problems(ref, ref.parameters)]
        if ref.role == "live" and ref.created_at:
            problems.append(f"{where}: 'created_at' dates history rows (role = \"history\")")
        unknown = set(ref.reset.values()) - set(RESET_LITERALS)
        if unknown:
            problems.append(f"{where}: unknown reset value(s) {sorted(unknown)}")
        if ref.insert and not ref.link:
            problems.append(f"{where}: 'insert' fills a link table's new rows (link = true)")
        taken = {ref.key, ref.column or ref.key} & set(ref.insert)
        if taken:
            problems.append(f"{where}: insert: {', '.join(sorted(taken))} is written by the move")
    problems += _model_constant_problems(mapping.models)
    if not mapping.live():
        problems.append("references: at least one 'live' reference is needed")
    problems += _recipient_problems(mapping.recipients.query)
    return problems


def _model_constant_problems(models: Models) -> list[str]:
    """``[models] insert`` names only unmapped columns; a filter compares constants."""
    problems = []
    mapped = {column: name for name, column in models.columns().items()}
    for column in sorted(set(models.insert) & set(mapped)):
        problems.append(
            f"models.insert: {column} is mapped as {mapped[column]!r}; the worker writes it"
        )
    for name, place in models.joined().items():
        if NOW in place.filter.values():
            problems.append(f"models.{name}.filter: compare with constants, not now()")
    return problems


def _recipient_problems(query: str) -> list[str]:
    params = set(_BIND.findall(query))
    problems = []
    if "team_ids" not in params:
        problems.append("recipients.query: must take the teams as ':team_ids' (an array)")
    unknown = sorted(params - RECIPIENT_PARAMS)
    if unknown:
        problems.append(
            f"recipients.query: unknown parameter(s) {', '.join(':' + p for p in unknown)} "
            "(only :team_ids and :permission are bound)"
        )
    if ";" in one_statement(query):
        problems.append("recipients.query: one statement only (no ';' inside)")
    return problems


def bind_recipients(query: str, team_ids: str, permission: str) -> str:
    """The recipients query with ``:team_ids`` and ``:permission`` written as given."""
    return _RECIPIENT_BIND.sub(
        lambda m: team_ids if m.group(1) == "team_ids" else permission, query
    )


# What a pattern asks for, said in words (pydantic would print the regular expression).
_PATTERNS = {
    _IDENTIFIER: (
        "a plain SQL name: lower-case letters, digits and _, not starting with a digit, "
        "at most 63 characters"
    ),
}


def _entry_name(entries: list[Any], index: int, key: str) -> str:
    """``references["assistants"]``: an entry of a list by its label (1-based otherwise)."""
    entry = entries[index] if index < len(entries) else None
    label = entry.get("label") if isinstance(entry, dict) else None
    return f'{key}["{label}"]' if isinstance(label, str) and label else f"{key} #{index + 1}"


@dataclass(frozen=True)
class _Place:
    where: str  # as the file's author reads it
    branch: str | None  # the union member pydantic was trying ("constrained-str", "Joined")
    union_at: str  # where that union is
    value: Any  # the file's value there


def _place(data: Any, loc: tuple[Any, ...], missing: bool) -> _Place:
    """Where an error is, and which form of a value that may take several it is about.

    List entries are named by their label; a key of the location that the file does not
    have is a union member's name, left out (or, for a missing key, the key itself).
    """
    parts: list[str] = []
    node, branch, union_at, value = data, None, "", data
    for i, part in enumerate(loc):
        if isinstance(node, list) and isinstance(part, int):
            parts.append(_entry_name(node, part, parts.pop() if parts else "item"))
            node = node[part] if part < len(node) else None
        elif isinstance(node, dict) and part in node:
            parts.append(str(part))
            node = node[part]
        elif missing and i == len(loc) - 1:
            parts.append(str(part))
        elif branch is None:
            branch, union_at, value = str(part), ".".join(parts), node
    return _Place(".".join(parts) or "file", branch, union_at, value if branch else node)


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "string_pattern_mismatch":
        wanted = _PATTERNS.get(err.get("ctx", {}).get("pattern"))
        if wanted:
            return f"{err['input']!r} is not {wanted}"
    return str(err["msg"])


def _describe(errors: list[Any], data: Any) -> list[str]:
    """One line per problem. Where a value may take several forms (a column name or a
    joined column), only the complaints about the form the file used are kept."""
    found: dict[str, list[tuple[bool, str]]] = {}
    for err in errors:
        place = _place(data, tuple(err["loc"]), err["type"] == "missing")
        # A member named like a class (``Joined``) takes a table; the others a plain value.
        fits = place.branch is None or place.branch[:1].isupper() == isinstance(place.value, dict)
        group = place.union_at if place.branch else place.where
        found.setdefault(group, []).append((fits, f"{place.where}: {_message(err)}"))
    out: list[str] = []
    for lines in found.values():
        kept = [line for fits, line in lines if fits] or [line for _, line in lines]
        out += [line for line in dict.fromkeys(kept) if line not in out]
    return out


def parse_mapping(data: dict[str, Any], source: str = "mapping") -> PlatformMapping:
    """Validate an already-parsed mapping; raise ``MappingError`` listing every problem."""
    try:
        mapping = PlatformMapping.model_validate(data)
    except ValidationError as exc:
        raise MappingError(source, _describe(exc.errors(), data)) from None
    problems = _semantic_problems(mapping)
    if problems:
        raise MappingError(source, problems)
    return mapping


def load_mapping(path: Path) -> PlatformMapping:
    """Read and validate the mapping file at ``path``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(str(path), [f"cannot read: {exc.strerror or exc}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingError(str(path), [f"not valid TOML: {exc}"]) from None
    return parse_mapping(data, str(path))


@cache
def reference_platform() -> PlatformMapping:
    """The built-in reference platform's mapping (shipped in the package)."""
    return load_mapping(REFERENCE_PLATFORM_FILE)


def platform_mapping(path: Path | None) -> PlatformMapping:
    """The configured mapping, or the reference platform's when none is configured."""
    return reference_platform() if path is None else load_mapping(path)
