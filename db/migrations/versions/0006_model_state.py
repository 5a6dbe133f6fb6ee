"""model_state: lifecycle state a host keeps no column for, keyed by the host's model id

On a mapped host without deprecation date, replacement, migrated-to or deleted-at columns
the worker keeps them here (the host's model table is never altered). On the reference
platform every state has a host column and this table stays empty.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.migrate import migration_layout

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    layout = migration_layout()
    schema = layout.worker_schema
    key = layout.key_type("model")
    op.create_table(
        "model_state",
        sa.Column("model_id", key, nullable=False),
        sa.Column("deprecated", sa.Boolean(), nullable=True),
        sa.Column("deprecation_date", sa.Date(), nullable=True),
        sa.Column("deprecation_source", sa.Text(), nullable=True),
        sa.Column("replacement_model_id", layout.key_type("model"), nullable=True),
        sa.Column("migrated_to_model_id", layout.key_type("model"), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_model_state")),
        schema=schema,
    )
    for column in ("replacement_model_id", "migrated_to_model_id", "deleted_at"):
        op.create_index(
            op.f(f"ix_model_state_{column}"), "model_state", [column], unique=False, schema=schema
        )


def downgrade() -> None:
    schema = migration_layout().worker_schema
    # The models view (built after the migrations) reads this table.
    op.execute(f'DROP VIEW IF EXISTS "{schema}".models')
    op.execute(f'DROP FUNCTION IF EXISTS "{schema}".models_write()')
    op.drop_table("model_state", schema=schema)
