"""deliveries: notification channels' outbox; suggested successors and sweep order on events

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 20:43:36.864412
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from db.migrate import migration_layout

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    layout = migration_layout()
    schema = layout.worker_schema
    op.create_table(
        "deliveries",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("team_id", layout.key_type("team"), nullable=True),
        sa.Column("user_id", layout.key_type("user"), nullable=True),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column(
            "payload",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "channel IN ('webhook', 'slack', 'email')", name=op.f("ck_deliveries_channel")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')", name=op.f("ck_deliveries_status")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            [f"{schema}.lifecycle_events.id"],
            name=op.f("fk_deliveries_event_id_lifecycle_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        schema=schema,
    )
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["next_attempt_at", "id"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
        schema=schema,
    )
    op.create_index(
        "ix_deliveries_failed",
        "deliveries",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'failed'"),
        schema=schema,
    )
    op.create_index(
        "uq_deliveries_event_channel_team_user",
        "deliveries",
        ["event_id", "channel", "team_id", "user_id"],
        unique=True,
        postgresql_nulls_not_distinct=True,
        schema=schema,
    )
    op.add_column(
        "lifecycle_events", sa.Column("suggested_provider", sa.Text(), nullable=True), schema=schema
    )
    op.add_column(
        "lifecycle_events",
        sa.Column("suggested_model_name", sa.Text(), nullable=True),
        schema=schema,
    )
    op.add_column(
        "lifecycle_events",
        sa.Column("swept_at", sa.DateTime(timezone=True), nullable=True),
        schema=schema,
    )


def downgrade() -> None:
    schema = migration_layout().worker_schema
    op.drop_column("lifecycle_events", "swept_at", schema=schema)
    op.drop_column("lifecycle_events", "suggested_model_name", schema=schema)
    op.drop_column("lifecycle_events", "suggested_provider", schema=schema)
    op.drop_index(
        "uq_deliveries_event_channel_team_user",
        table_name="deliveries",
        postgresql_nulls_not_distinct=True,
        schema=schema,
    )
    op.drop_index(
        "ix_deliveries_failed",
        table_name="deliveries",
        postgresql_where=sa.text("status = 'failed'"),
        schema=schema,
    )
    op.drop_index(
        "ix_deliveries_due",
        table_name="deliveries",
        postgresql_where=sa.text("status = 'pending'"),
        schema=schema,
    )
    op.drop_table("deliveries", schema=schema)
