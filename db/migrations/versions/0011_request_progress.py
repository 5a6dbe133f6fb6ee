"""request progress: each request's per-reference counts and cursor in a table

``model_migration_progress`` holds one row per (request, reference label): the rows the
admission planned, the rows done, the batches and the keyset cursor of the last committed
batch, which ``model_migrations.progress`` kept as its ``planned``, ``done``, ``cursor`` and
``batches`` keys. The upgrade moves those keys into rows (a reference's batches counted from
``model_migration_batches``, as the JSONB kept only the request's total); the downgrade
writes them back.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.migrate import migration_layout

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "model_migration_progress"

# The labels a request's JSONB progress names, in any of its per-reference keys.
_COPY_TO_ROWS = """
INSERT INTO "{s}".model_migration_progress (migration_id, label, planned, done, cursor, batches)
SELECT m.id,
       l.label,
       (m.progress #>> ARRAY['planned', l.label])::bigint,
       COALESCE((m.progress #>> ARRAY['done', l.label])::bigint, 0),
       m.progress #>> ARRAY['cursor', l.label],
       (SELECT count(*) FROM "{s}".model_migration_batches b
        WHERE b.migration_id = m.id AND b.label = l.label)
FROM "{s}".model_migrations m
CROSS JOIN LATERAL (
    SELECT jsonb_object_keys(COALESCE(m.progress -> 'planned', '{{}}'::jsonb)) AS label
    UNION
    SELECT jsonb_object_keys(COALESCE(m.progress -> 'done', '{{}}'::jsonb))
    UNION
    SELECT jsonb_object_keys(COALESCE(m.progress -> 'cursor', '{{}}'::jsonb))
) l
"""

_DROP_KEYS = """
UPDATE "{s}".model_migrations
SET progress = progress - 'planned' - 'done' - 'cursor' - 'batches'
"""

# Written back as the older code kept them: ``done`` names the references a batch was
# recorded for, ``cursor`` those with a cursor (a number for an integer key, a string for
# a UUID), ``batches`` is the request's total.
_COPY_TO_JSONB = """
UPDATE "{s}".model_migrations m
SET progress = m.progress || jsonb_build_object(
        'planned', p.planned, 'done', p.done, 'cursor', p.cursor, 'batches', p.batches)
FROM (
    SELECT migration_id,
           COALESCE(jsonb_object_agg(label, planned) FILTER (WHERE planned IS NOT NULL),
                    '{{}}'::jsonb) AS planned,
           COALESCE(jsonb_object_agg(label, done) FILTER (WHERE done > 0 OR batches > 0),
                    '{{}}'::jsonb) AS done,
           COALESCE(jsonb_object_agg(label, CASE WHEN cursor ~ '^-?[0-9]+$'
                                                 THEN to_jsonb(cursor::bigint)
                                                 ELSE to_jsonb(cursor) END)
                        FILTER (WHERE cursor IS NOT NULL),
                    '{{}}'::jsonb) AS cursor,
           sum(batches) AS batches
    FROM "{s}".model_migration_progress
    GROUP BY migration_id
) p
WHERE p.migration_id = m.id
"""


def upgrade() -> None:
    schema = migration_layout().worker_schema
    op.create_table(
        TABLE,
        sa.Column("migration_id", sa.UUID(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("planned", sa.BigInteger(), nullable=True),
        sa.Column("done", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("batches", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(
            ["migration_id"],
            [f"{schema}.model_migrations.id"],
            name=op.f("fk_model_migration_progress_migration_id_model_migrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("migration_id", "label", name=op.f("pk_model_migration_progress")),
        schema=schema,
    )
    op.execute(_COPY_TO_ROWS.format(s=schema))
    op.execute(_DROP_KEYS.format(s=schema))


def downgrade() -> None:
    schema = migration_layout().worker_schema
    op.execute(_COPY_TO_JSONB.format(s=schema))
    op.drop_table(TABLE, schema=schema)
