"""The reference registry: every place in the schema that refers to an LLM model.

Migration, deletion, impact counts, notification counts and cleanup eligibility all
iterate :data:`REFERENCES`; none of them names a referencing table itself. The entries
come from the platform mapping (for the built-in reference platform,
``db/platform/reference.toml``): adding a referencing table is one ``[[references]]``
entry there plus, on the reference platform, its Alembic migration.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

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
from db.schema_layout import HOST_SCHEMA

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
    "verify_registry",
]

# The reference platform's entries, read from its mapping (db/platform/reference.toml).
REFERENCES: tuple[Reference, ...] = reference_platform().registry_references()


def live_references() -> tuple[Reference, ...]:
    """References that migrations and deletions re-point."""
    return tuple(r for r in REFERENCES if r.role is Role.LIVE)


def history_references() -> tuple[Reference, ...]:
    """References that keep the model they were produced with."""
    return tuple(r for r in REFERENCES if r.role is Role.HISTORY)


async def verify_registry(
    conn: AsyncConnection,
    references: tuple[Reference, ...] = REFERENCES,
    *,
    host_schema: str = HOST_SCHEMA,
) -> None:
    """Check every registry entry against the host's schema; raise naming what is missing."""
    check_identifiers(references)
    rows = await conn.execute(
        text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = :schema"
        ),
        {"schema": host_schema},
    )
    present: dict[str, set[str]] = {}
    for table, column in rows:
        present.setdefault(table, set()).add(column)
    problems = []
    for ref in references:
        for table, columns in ref.columns().items():
            if table not in present:
                problems.append(f"{ref.label}: table {table!r} does not exist")
                continue
            problems += [
                f"{ref.label}: column {table}.{col} does not exist"
                for col in columns
                if col not in present[table]
            ]
    if problems:
        raise RegistryError(
            "the reference registry does not match the database "
            "(run `lifecycle db upgrade`?): " + "; ".join(dict.fromkeys(problems))
        )
