"""migration batches

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 06:09:58.556763
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from db.migrate import migration_layout

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schema = migration_layout().worker_schema
    op.create_table(
        "model_migration_batches",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("migration_id", sa.UUID(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column(
            "teams",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["migration_id"],
            [f"{schema}.model_migrations.id"],
            name=op.f("fk_model_migration_batches_migration_id_model_migrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_migration_batches")),
        schema=schema,
    )
    op.create_index(
        op.f("ix_model_migration_batches_migration_id"),
        "model_migration_batches",
        ["migration_id"],
        unique=False,
        schema=schema,
    )


def downgrade() -> None:
    schema = migration_layout().worker_schema
    op.drop_index(
        op.f("ix_model_migration_batches_migration_id"),
        table_name="model_migration_batches",
        schema=schema,
    )
    op.drop_table("model_migration_batches", schema=schema)
