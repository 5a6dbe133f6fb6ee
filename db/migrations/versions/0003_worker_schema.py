"""worker tables in their own schema

Databases migrated before the worker had a schema of its own keep its tables in the host's
schema; they move into the worker's (with their indexes and constraints). On a database
built since, they are there already and this does nothing.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 20:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.migrate import migration_layout

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WORKER_TABLES = (
    "model_migrations",
    "model_migration_batches",
    "lifecycle_events",
    "notifications",
    "audit_events",
    "lifecycle_runs",
)


def _move(tables: Sequence[str], source: str, target: str) -> None:
    bind = op.get_bind()
    for table in tables:
        here = bind.scalar(sa.text("SELECT to_regclass(:t)"), {"t": f'"{source}".{table}'})
        there = bind.scalar(sa.text("SELECT to_regclass(:t)"), {"t": f'"{target}".{table}'})
        if here is not None and there is None:
            op.execute(f'ALTER TABLE "{source}".{table} SET SCHEMA "{target}"')


def upgrade() -> None:
    layout = migration_layout()
    _move(WORKER_TABLES, layout.host_schema, layout.worker_schema)


def downgrade() -> None:
    # Revisions 0001-0002 now build these tables in the worker's schema: nothing to undo.
    pass
