"""Where the worker's tables live and what a migration run builds.

The worker's own tables (requests, outbox, notifications, audit, runs) live in a
PostgreSQL schema of their own (``LIFECYCLE_SCHEMA``, default ``lifecycle``) with their own
Alembic version table, so they never collide with a host's tables of the same name. The
host's tables stay where the host keeps them (``public`` unless its mapping says
otherwise). The reference platform's tables are built by the migrations only when no
platform mapping is configured; an adopted host's schema is described, never owned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa

# The schema name the SQLAlchemy models declare for the worker's tables. Engines translate
# it to the configured ``LIFECYCLE_SCHEMA``; raw SQL finds the tables through search_path.
WORKER_SCHEMA = "lifecycle"
HOST_SCHEMA = "public"

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
KEY_TYPES = {"uuid": sa.UUID, "bigint": sa.BigInteger, "integer": sa.Integer}


def check_schema_name(value: str) -> str:
    """Refuse a schema name that is not a plain lower-case SQL identifier."""
    if not _IDENTIFIER.match(value) or value.startswith("pg_"):
        raise ValueError(
            f"invalid schema name {value!r}: use lower-case letters, digits and _ "
            "(at most 63, not starting with a digit or pg_)"
        )
    return value


@dataclass(frozen=True)
class Layout:
    """What one ``db upgrade`` builds, and with which key types.

    ``model_key``, ``team_key`` and ``user_key`` are the SQL types of the host's ids
    (``uuid``, ``bigint`` or ``integer``), used for the worker's columns that hold them.
    """

    worker_schema: str = WORKER_SCHEMA
    host_schema: str = HOST_SCHEMA
    reference_platform: bool = True
    model_key: str = "uuid"
    team_key: str = "uuid"
    user_key: str = "uuid"

    def __post_init__(self) -> None:
        check_schema_name(self.worker_schema)
        check_schema_name(self.host_schema)
        if self.worker_schema == self.host_schema:
            raise ValueError(
                f"the worker's schema must differ from the host's ({self.host_schema!r})"
            )
        for key in (self.model_key, self.team_key, self.user_key):
            if key not in KEY_TYPES:
                raise ValueError(f"unsupported key type {key!r} (uuid, bigint or integer)")

    def key_type(self, of: str) -> sa.types.TypeEngine[object]:
        """The SQLAlchemy type of the host's ``model``, ``team`` or ``user`` ids."""
        name = {"model": self.model_key, "team": self.team_key, "user": self.user_key}[of]
        result: sa.types.TypeEngine[object] = KEY_TYPES[name]()
        return result

    def host_table(self, name: str) -> str:
        """``name`` qualified with the host's schema (for foreign keys out of the worker's)."""
        return f"{self.host_schema}.{name}"

    def search_path(self) -> str:
        """The ``search_path`` for the worker's connections: its own schema, then the host's."""
        return f'"{self.worker_schema}", "{self.host_schema}"'
