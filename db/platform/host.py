"""The host platform a worker runs on: its mapping and the references the jobs walk.

One object per process (or per test), handed to jobs on their ``Runtime``: nothing in the
jobs names a table of one platform, and nothing reads a process-wide registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from db.platform.mapping import PlatformMapping, reference_platform
from db.platform.model_view import stored_columns
from db.reference import Reference, Role, check_identifiers


@dataclass(frozen=True)
class Platform:
    """A validated mapping with its references in the form the SQL builders take."""

    mapping: PlatformMapping

    @property
    def name(self) -> str:
        return self.mapping.name

    @cached_property
    def references(self) -> tuple[Reference, ...]:
        refs = self.mapping.registry_references()
        check_identifiers(refs)
        return refs

    def live(self) -> tuple[Reference, ...]:
        """References that migrations and deletions re-point."""
        return tuple(r for r in self.references if r.role is Role.LIVE)

    def history(self) -> tuple[Reference, ...]:
        """References that keep the model they were produced with."""
        return tuple(r for r in self.references if r.role is Role.HISTORY)

    def qualified(self, table: str) -> str:
        """``table`` of the host, schema-qualified and quoted (validated identifiers)."""
        return f'"{self.mapping.host_schema}"."{table}"'

    def recipients_sql(self) -> str:
        """The operator's recipients query: ``SELECT team_id, user_id, email`` of the
        members of ``:team_ids`` who are told (``:permission`` bound where it is used).
        It runs on its own (never embedded in another statement), so a comment on its
        last line ends nothing but itself."""
        return self.mapping.recipients.sql()

    def teams_sql(self) -> str:
        """A sub-query ``(id, slug, name)`` over the host's teams table."""
        teams = self.mapping.teams
        slug = f'"{teams.slug}"' if teams.slug else "NULL"
        return (
            f'SELECT "{teams.id}" AS id, CAST({slug} AS text) AS slug, '
            f'CAST("{teams.name}" AS text) AS name FROM {self.qualified(teams.table)}'
        )

    @cached_property
    def stored_model_columns(self) -> frozenset[str]:
        """Columns of the ``models`` view this host keeps (writes to others are dropped)."""
        return stored_columns(self.mapping)

    def label_order(self) -> dict[str, int]:
        """Each label's position in the mapping (reports list labels in this order)."""
        return {ref.label: i for i, ref in enumerate(self.references)}

    def parameter_modes(self) -> dict[str, str]:
        """Labels whose model parameters move with them: ``translate`` or ``reset``."""
        modes = {ref.label: "reset" for ref in self.references if ref.reset_on_move}
        modes.update({ref.label: "translate" for ref in self.references if ref.parameters})
        return modes


def reference_host() -> Platform:
    """The built-in reference platform."""
    return Platform(reference_platform())
