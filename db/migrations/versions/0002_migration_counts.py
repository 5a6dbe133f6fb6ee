"""migration counts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 05:57:35.277903
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_migration_counts",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("migration_id", sa.UUID(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("team_id", sa.UUID(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["migration_id"],
            ["model_migrations.id"],
            name=op.f("fk_model_migration_counts_migration_id_model_migrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_migration_counts")),
    )
    op.create_index(
        "uq_model_migration_counts_key",
        "model_migration_counts",
        ["migration_id", "label", "team_id"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )


def downgrade() -> None:
    op.drop_index(
        "uq_model_migration_counts_key",
        table_name="model_migration_counts",
        postgresql_nulls_not_distinct=True,
    )
    op.drop_table("model_migration_counts")
