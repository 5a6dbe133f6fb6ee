"""request journal: what each batch of a request changed, so the request can be undone

``request_journal`` holds one row per host row a migration or deletion changed, written by
the statement that changes it: the row's key, and the changed columns as they were
(``old_values``) and as the request left them (``new_values``), but for a column
reference's model column (the source before, the target after); for a link row, the
deleted row and whether the request inserted the target's link.
``model_migrations.journaled`` marks the requests recorded with a journal (one finished
before this revision cannot be undone).
``migration_id`` has no foreign key: a batch journals thousands of rows, and each would
check the request row the batch already holds locked.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from db.migrate import migration_layout

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "request_journal"


def upgrade() -> None:
    schema = migration_layout().worker_schema
    op.add_column(
        "model_migrations",
        sa.Column("journaled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema=schema,
    )
    op.create_table(
        TABLE,
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("migration_id", sa.UUID(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("row_key", sa.Text(), nullable=False),
        sa.Column("old_values", postgresql.JSONB(), nullable=False),
        sa.Column("new_values", postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_journal")),
        schema=schema,
    )
    op.create_index(
        "ix_request_journal_migration_label",
        TABLE,
        ["migration_id", "label", "id"],
        schema=schema,
    )


def downgrade() -> None:
    schema = migration_layout().worker_schema
    op.drop_index("ix_request_journal_migration_label", table_name=TABLE, schema=schema)
    op.drop_table(TABLE, schema=schema)
    op.drop_column("model_migrations", "journaled", schema=schema)
