"""pipelines: index the canonical (lower-case) definition, so model ids match in any case

Revision ID: 0011
Revises: 0002
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_pipelines_definition_lower_path_ops ON pipelines "
        "USING gin ((CAST(lower(CAST(definition AS text)) AS jsonb)) jsonb_path_ops)"
    )
    op.drop_index("ix_pipelines_definition_path_ops", table_name="pipelines")


def downgrade() -> None:
    op.create_index(
        "ix_pipelines_definition_path_ops",
        "pipelines",
        ["definition"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"definition": "jsonb_path_ops"},
    )
    op.drop_index("ix_pipelines_definition_lower_path_ops", table_name="pipelines")
