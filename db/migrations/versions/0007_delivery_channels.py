"""deliveries: the channel list lives in the worker's channel registry, not a CHECK

A channel is one module listed in ``jobs.channels``; a constraint naming the channels
would make every new channel a schema change. Only the worker writes this column.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 19:45:00
"""

from collections.abc import Sequence

from alembic import op

from db.migrate import migration_layout

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schema = migration_layout().worker_schema
    op.drop_constraint(op.f("ck_deliveries_channel"), "deliveries", schema=schema, type_="check")


def downgrade() -> None:
    schema = migration_layout().worker_schema
    op.create_check_constraint(
        op.f("ck_deliveries_channel"),
        "deliveries",
        "channel IN ('webhook', 'slack', 'email')",
        schema=schema,
    )
