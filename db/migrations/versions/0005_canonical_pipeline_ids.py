"""pipelines: index the canonical (lower-case) definition, so model ids match in any case

A reference-platform table: nothing is done on a host with a platform mapping.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

from alembic import op

from db.migrate import migration_layout

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if not migration_layout().reference_platform:
        return  # a reference platform table: an adopted host's schema is never touched
    op.execute(
        "CREATE INDEX ix_pipelines_definition_lower_path_ops ON pipelines "
        "USING gin ((CAST(lower(CAST(definition AS text)) AS jsonb)) jsonb_path_ops)"
    )
    op.drop_index("ix_pipelines_definition_path_ops", table_name="pipelines")


def downgrade() -> None:
    if not migration_layout().reference_platform:
        return
    op.create_index(
        "ix_pipelines_definition_path_ops",
        "pipelines",
        ["definition"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"definition": "jsonb_path_ops"},
    )
    op.drop_index("ix_pipelines_definition_lower_path_ops", table_name="pipelines")
