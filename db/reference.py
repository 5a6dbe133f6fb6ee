"""What a reference to a model is: the entries the platform mapping declares.

A leaf module: the mapping (``db.platform``) builds these, the platform lists them, and
the SQL builders (``db.queries``) read them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# A key inside a JSON document (it is written into statements as a jsonb_set path).
_JSON_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class Role(StrEnum):
    """Whether a migration moves the reference (live) or leaves it alone (history)."""

    LIVE = "live"
    HISTORY = "history"


class Shape(StrEnum):
    """How the reference is stored."""

    COLUMN = "column"  # a column holding the model id
    LINK = "link"  # a row of a many-to-many table keyed on the model id
    JSON = "json"  # a path inside a jsonb column holds the id (a JSON string or number)


class IdForm(StrEnum):
    """How a new id is written into JSON (either form is matched when reading)."""

    STRING = "string"
    NUMBER = "number"


@dataclass(frozen=True)
class JsonPath:
    """A model id inside jsonb ``column``, at ``keys`` from the top.

    ``array_at`` is the index of the one key (if any) that holds an array whose every
    element is stepped into (``nodes[*].params.llm_model_id``: keys ``nodes, params,
    llm_model_id``, ``array_at`` 0).
    """

    column: str
    keys: tuple[str, ...]
    array_at: int | None = None
    id_as: IdForm = IdForm.STRING

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a JSON path needs at least one key")
        if self.array_at is not None and not 0 <= self.array_at < len(self.keys) - 1:
            raise ValueError("only a key before the id's own key may hold an array")

    @property
    def outer(self) -> tuple[str, ...]:
        """Keys down to the array (all of them when there is none)."""
        return self.keys if self.array_at is None else self.keys[: self.array_at + 1]

    @property
    def inner(self) -> tuple[str, ...]:
        """Keys inside each array element (empty when there is no array)."""
        return () if self.array_at is None else self.keys[self.array_at + 1 :]

    def text(self) -> str:
        """The path as the mapping writes it: ``nodes[*].params.llm_model_id``."""
        return ".".join(
            f"{key}[*]" if i == self.array_at else key for i, key in enumerate(self.keys)
        )


@dataclass(frozen=True)
class NotLive:
    """A column marking rows that are not live configuration.

    A timestamp (``deleted_at``: live while NULL) or, when ``boolean``, a flag
    (``is_archived``: live unless true).
    """

    column: str
    boolean: bool = False


@dataclass(frozen=True)
class TeamVia:
    """The team of a reference reached through a parent table (``row.fk → parent.key``).

    ``parent_key`` is the parent's column ``fk_column`` holds (its id unless the mapping
    names another); ``level_column`` (on the parent) holds a minimum security level the
    model must meet.
    """

    parent_table: str
    fk_column: str
    team_column: str
    level_column: str | None = None
    parent_key: str = "id"


# Values a row gets when its model changes: (column, SQL literal). Literals come from this
# module only, never from configuration.
RESET_LITERALS = {"empty_object": "'{}'::jsonb"}

# A value the mapping supplies for a host column the worker would otherwise leave empty
# (``insert``) or that chooses a row of a joined table (``filter``): a constant, or
# ``"now()"`` for the time of the write.
Constant = str | int | bool
NOW = "now()"


def constant_sql(value: Constant) -> str:
    """``value`` as a SQL literal (untyped for a string, so PostgreSQL reads it as the
    column's type, as it does a literal in an INSERT). Quotes and backslashes are escaped
    and ``$`` and ``:`` are written as hex escapes: the literal reads the same whatever
    ``standard_conforming_strings`` says, cannot end the dollar-quoted body of the
    ``models`` view's trigger function, and holds no bind parameter of a ``text()``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value == NOW:
        return "now()"
    if "\x00" in value:
        raise ValueError("a constant cannot hold a NUL character")
    escaped = value.replace("\\", "\\\\").replace("'", "''")
    return "E'" + escaped.replace("$", "\\x24").replace(":", "\\x3a") + "'"


@dataclass(frozen=True)
class Reference:
    """One place that refers to a model.

    ``column`` is the column holding the id, or the jsonb column ``json`` reads for the
    JSON shape. ``json_copy`` is a JSON copy of a column's id kept in the same row, moved
    with the column.
    """

    label: str
    table: str
    column: str
    role: Role
    shape: Shape = Shape.COLUMN
    team_column: str | None = "team_id"
    team_via: TeamVia | None = None
    # Columns marking rows that are not live (a row is live when none of them does).
    not_live: tuple[NotLive, ...] = ()
    clearable: bool = False
    json: JsonPath | None = None
    json_copy: JsonPath | None = None
    key_column: str = "id"
    reset_on_move: tuple[tuple[str, str], ...] = ()
    # A jsonb column of model parameters carried to the target (translated) on a move.
    parameters: str | None = None
    # When the row was produced (history only): for "N questions in the last 30 days".
    time_column: str | None = None
    # A link table's other columns a move fills when it inserts a row: (column, value).
    insert_values: tuple[tuple[str, Constant], ...] = ()

    def __post_init__(self) -> None:
        if (self.shape is Shape.JSON) != (self.json is not None):
            raise ValueError(f"{self.label}: a JSON path goes with the JSON shape only")
        if self.json_copy is not None and self.shape is not Shape.COLUMN:
            raise ValueError(f"{self.label}: a JSON copy goes with a plain column only")
        if self.parameters is not None and self.shape is Shape.LINK:
            raise ValueError(f"{self.label}: a link table has no model parameters")

    def identifiers(self) -> list[str]:
        """Every SQL identifier this entry will put into a statement."""
        names = [self.table, self.column, self.key_column]
        optional = (self.team_column, self.time_column)
        names += [n for n in optional if n]
        names += [marker.column for marker in self.not_live]
        names += [self.json_copy.column] if self.json_copy else []
        names += [column for column, _ in self.reset_on_move]
        names += [self.parameters] if self.parameters else []
        names += [column for column, _ in self.insert_values]
        if self.team_via:
            via = self.team_via
            names += [via.parent_table, via.fk_column, via.team_column, via.parent_key]
            names += [via.level_column] if via.level_column else []
        return names

    def json_keys(self) -> list[str]:
        """Every JSON key this entry will put into a statement (as a jsonb_set path)."""
        return [key for path in (self.json, self.json_copy) if path for key in path.keys]

    def columns(self) -> dict[str, list[str]]:
        """Table → columns this entry expects to exist in the database."""
        cols: dict[str, list[str]] = {self.table: [self.column]}
        if self.shape is not Shape.LINK:
            cols[self.table].append(self.key_column)
        if self.team_column:
            cols[self.table].append(self.team_column)
        cols[self.table].extend(marker.column for marker in self.not_live)
        if self.json_copy:
            cols[self.table].append(self.json_copy.column)
        if self.time_column:
            cols[self.table].append(self.time_column)
        cols[self.table].extend(column for column, _ in self.reset_on_move)
        if self.parameters:
            cols[self.table].append(self.parameters)
        if self.team_via:
            via = self.team_via
            cols[self.table].append(via.fk_column)
            cols.setdefault(via.parent_table, []).extend([via.parent_key, via.team_column])
            if via.level_column:
                cols[via.parent_table].append(via.level_column)
        return cols


class RegistryError(RuntimeError):
    """The references do not match the database (or name an unsafe identifier)."""


def check_identifiers(references: tuple[Reference, ...]) -> None:
    """Refuse any identifier that is not a plain lower-case SQL name (or JSON key)."""
    bad = sorted({n for r in references for n in r.identifiers() if not _IDENTIFIER.match(n)})
    bad += sorted({k for r in references for k in r.json_keys() if not _JSON_KEY.match(k)})
    if bad:
        raise RegistryError(f"reference registry holds unsafe identifier(s): {', '.join(bad)}")
    unknown = sorted({v for r in references for _, v in r.reset_on_move} - set(RESET_LITERALS))
    if unknown:
        raise RegistryError(f"reference registry names unknown reset value(s): {unknown}")
    labels = [r.label for r in references]
    if len(labels) != len(set(labels)):
        raise RegistryError("reference registry labels must be unique")
