"""The reference registry: every place in the schema that refers to an LLM model.

Migration, deletion, impact counts, notification counts and cleanup eligibility all
iterate :data:`REFERENCES`; none of them names a referencing table itself. The entries
come from the platform mapping (for the built-in reference platform,
``db/platform/reference.toml``): adding a referencing table is one ``[[references]]``
entry there plus, on the reference platform, its Alembic migration.
"""

from __future__ import annotations

from db.platform.mapping import reference_platform
from db.reference import (
    RESET_LITERALS,
    Reference,
    RegistryError,
    Role,
    Shape,
    TeamVia,
    check_identifiers,
)

__all__ = [
    "REFERENCES",
    "RESET_LITERALS",
    "Reference",
    "RegistryError",
    "Role",
    "Shape",
    "TeamVia",
    "check_identifiers",
    "history_references",
    "live_references",
]

# The reference platform's entries, read from its mapping (db/platform/reference.toml).
REFERENCES: tuple[Reference, ...] = reference_platform().registry_references()


def live_references() -> tuple[Reference, ...]:
    """References that migrations and deletions re-point."""
    return tuple(r for r in REFERENCES if r.role is Role.LIVE)


def history_references() -> tuple[Reference, ...]:
    """References that keep the model they were produced with."""
    return tuple(r for r in REFERENCES if r.role is Role.HISTORY)
