"""request teams: a request limited to some teams, and whether it retired its source

``model_migrations.teams`` holds the ids of the teams a request covers (as text, in the
host's key form; ``NULL`` for every team, as before). ``source_retired`` says whether a
finished request marked its source migrated or deleted (``false``: live references of
other teams keep the source live).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from db.migrate import migration_layout

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "model_migrations"


def upgrade() -> None:
    schema = migration_layout().worker_schema
    op.add_column(TABLE, sa.Column("teams", postgresql.JSONB(), nullable=True), schema=schema)
    op.add_column(TABLE, sa.Column("source_retired", sa.Boolean(), nullable=True), schema=schema)


def downgrade() -> None:
    schema = migration_layout().worker_schema
    op.drop_column(TABLE, "source_retired", schema=schema)
    op.drop_column(TABLE, "teams", schema=schema)
