"""What a reference to a model is: the entries the platform mapping declares.

A leaf module: the mapping (``db.platform``) builds these, the registry lists them, and the
SQL builders (``db.queries``) read them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Role(StrEnum):
    """Whether a migration moves the reference (live) or leaves it alone (history)."""

    LIVE = "live"
    HISTORY = "history"


class Shape(StrEnum):
    """How the reference is stored."""

    COLUMN = "column"  # a uuid column holding the model id
    LINK = "link"  # a row of a many-to-many table keyed on the model id
    JSON_NODES = "json_nodes"  # definition.nodes[*].params.<key> holds the id as a string


@dataclass(frozen=True)
class TeamVia:
    """The team of a reference reached through a parent table (``link.fk → parent.id``).

    ``level_column`` (on the parent) holds a minimum security level the model must meet.
    """

    parent_table: str
    fk_column: str
    team_column: str
    level_column: str | None = None


# Values a row gets when its model changes: (column, SQL literal). Literals come from this
# module only, never from configuration.
RESET_LITERALS = {"empty_object": "'{}'::jsonb"}


@dataclass(frozen=True)
class Reference:
    """One place that refers to a model."""

    label: str
    table: str
    column: str
    role: Role
    shape: Shape = Shape.COLUMN
    team_column: str | None = "team_id"
    team_via: TeamVia | None = None
    soft_delete_column: str | None = None
    clearable: bool = False
    json_key: str | None = None
    key_column: str = "id"
    reset_on_move: tuple[tuple[str, str], ...] = ()
    # When the row was produced (history only): for "N questions in the last 30 days".
    time_column: str | None = None

    def identifiers(self) -> list[str]:
        """Every SQL identifier this entry will put into a statement."""
        names = [self.table, self.column, self.key_column]
        optional = (self.team_column, self.soft_delete_column, self.json_key, self.time_column)
        names += [n for n in optional if n]
        names += [column for column, _ in self.reset_on_move]
        if self.team_via:
            via = self.team_via
            names += [via.parent_table, via.fk_column, via.team_column]
            names += [via.level_column] if via.level_column else []
        return names

    def columns(self) -> dict[str, list[str]]:
        """Table → columns this entry expects to exist in the database."""
        cols: dict[str, list[str]] = {self.table: [self.column]}
        if self.shape is not Shape.LINK:
            cols[self.table].append(self.key_column)
        if self.team_column:
            cols[self.table].append(self.team_column)
        if self.soft_delete_column:
            cols[self.table].append(self.soft_delete_column)
        if self.time_column:
            cols[self.table].append(self.time_column)
        cols[self.table].extend(column for column, _ in self.reset_on_move)
        if self.team_via:
            via = self.team_via
            cols[self.table].append(via.fk_column)
            cols.setdefault(via.parent_table, []).extend(["id", via.team_column])
            if via.level_column:
                cols[via.parent_table].append(via.level_column)
        return cols


class RegistryError(RuntimeError):
    """The registry does not match the database (or names an unsafe identifier)."""


def check_identifiers(references: tuple[Reference, ...]) -> None:
    """Refuse any identifier that is not a plain lower-case SQL name."""
    bad = sorted({n for r in references for n in r.identifiers() if not _IDENTIFIER.match(n)})
    if bad:
        raise RegistryError(f"reference registry holds unsafe identifier(s): {', '.join(bad)}")
    unknown = sorted({v for r in references for _, v in r.reset_on_move} - set(RESET_LITERALS))
    if unknown:
        raise RegistryError(f"reference registry names unknown reset value(s): {unknown}")
    labels = [r.label for r in references]
    if len(labels) != len(set(labels)):
        raise RegistryError("reference registry labels must be unique")
