"""rollouts: paused, cancelled and undone requests; a paused request holds its source

``model_migrations.status`` gains ``paused`` (stopped after a batch, still active),
``cancelled`` (stopped for good) and ``undone``; the one-active-request-per-source index
counts ``paused`` as active. ``run_started_at`` marks when the latest run began and
``resumes`` counts operator resumes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.migrate import migration_layout

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "model_migrations"
STATUS_CHECK = "ck_model_migrations_status"
ACTIVE_INDEX = "uq_model_migrations_active_source"
OLD_STATUSES = "('pending', 'running', 'succeeded', 'failed', 'rejected')"
NEW_STATUSES = (
    "('pending', 'running', 'paused', 'succeeded', 'failed', 'rejected', 'cancelled', 'undone')"
)


def _replace(schema: str, statuses: str, active: str) -> None:
    op.drop_constraint(op.f(STATUS_CHECK), TABLE, type_="check", schema=schema)
    op.create_check_constraint(op.f(STATUS_CHECK), TABLE, f"status IN {statuses}", schema=schema)
    op.drop_index(ACTIVE_INDEX, table_name=TABLE, schema=schema)
    op.create_index(
        ACTIVE_INDEX,
        TABLE,
        ["from_model_id"],
        unique=True,
        schema=schema,
        postgresql_where=sa.text(f"status IN {active}"),
    )


def upgrade() -> None:
    schema = migration_layout().worker_schema
    op.add_column(
        TABLE, sa.Column("run_started_at", sa.DateTime(timezone=True), nullable=True), schema=schema
    )
    op.add_column(
        TABLE,
        sa.Column("resumes", sa.Integer(), server_default=sa.text("0"), nullable=False),
        schema=schema,
    )
    _replace(schema, NEW_STATUSES, "('pending', 'running', 'paused')")


def downgrade() -> None:
    schema = migration_layout().worker_schema
    # The older schema knows no such statuses: such a request ends failed (inactive, and
    # claiming no success).
    op.execute(
        f"UPDATE \"{schema}\".{TABLE} SET status = 'failed', "
        "finished_at = COALESCE(finished_at, now()) "
        "WHERE status IN ('paused', 'cancelled', 'undone')"
    )
    _replace(schema, OLD_STATUSES, "('pending', 'running')")
    op.drop_column(TABLE, "resumes", schema=schema)
    op.drop_column(TABLE, "run_started_at", schema=schema)
