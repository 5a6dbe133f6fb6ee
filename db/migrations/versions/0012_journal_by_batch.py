"""journal by batch: one ``request_journal`` row per statement that changed rows

A batch of 5,000 rows wrote 5,000 journal rows, each with its index entry: a fifth of the
batch's time. Now the statement writes one row holding the batch's entries as arrays:
``row_keys`` (each row's key in its canonical text), ``old_values`` and ``new_values``
(each entry's values, in the same order; ``NULL`` for a reference whose changed columns
are all known to the undo, a plain column reference without parameters).

The upgrade keeps every entry: each journal row becomes a row of one entry with the same
id, so an undo in progress resumes from its cursor (a journal id). The downgrade gives
each entry a row of its own again, numbered in the same order (a row's id times
``_SPREAD`` plus its place in the row), and scales the cursors of undos in progress with
them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from db.migrate import migration_layout

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "request_journal"
INDEX = "ix_request_journal_migration_label"
# More than the entries of any batch (LIFECYCLE_BATCH_SIZE is at most 100,000).
_SPREAD = 1_000_000

_TO_ARRAYS = """
UPDATE "{s}".request_journal
SET row_keys = ARRAY[row_key], old_entries = ARRAY[old_values], new_entries = ARRAY[new_values]
"""

_TO_ROWS = """
INSERT INTO "{s}".request_journal_entries (id, migration_id, label, row_key, old_values, new_values)
SELECT j.id * {spread} + e.n, j.migration_id, j.label, e.row_key,
       COALESCE(e.old_values, '{{}}'::jsonb), COALESCE(e.new_values, '{{}}'::jsonb)
FROM "{s}".request_journal j
CROSS JOIN LATERAL unnest(j.row_keys, j.old_values, j.new_values)
    WITH ORDINALITY AS e(row_key, old_values, new_values, n)
"""

# An undo in progress keeps, per label, the id of the last journal row it put back.
_SCALE_CURSORS = """
UPDATE "{s}".model_migrations m
SET progress = jsonb_set(m.progress, '{{undo,cursor}}', (
    SELECT jsonb_object_agg(c.key, CASE WHEN jsonb_typeof(c.value) = 'number'
                                        THEN to_jsonb((c.value #>> '{{}}')::bigint * {spread})
                                        ELSE c.value END)
    FROM jsonb_each(m.progress #> '{{undo,cursor}}') AS c))
WHERE jsonb_typeof(m.progress #> '{{undo,cursor}}') = 'object'
  AND m.progress #> '{{undo,cursor}}' <> '{{}}'::jsonb
"""


def upgrade() -> None:
    s = migration_layout().worker_schema
    for name, kind in (
        ("row_keys", sa.Text()),
        ("old_entries", postgresql.JSONB()),
        ("new_entries", postgresql.JSONB()),
    ):
        op.add_column(TABLE, sa.Column(name, postgresql.ARRAY(kind), nullable=True), schema=s)
    op.execute(_TO_ARRAYS.format(s=s))
    for name in ("row_key", "old_values", "new_values"):
        op.drop_column(TABLE, name, schema=s)
    op.alter_column(TABLE, "row_keys", nullable=False, schema=s)
    op.alter_column(TABLE, "old_entries", new_column_name="old_values", schema=s)
    op.alter_column(TABLE, "new_entries", new_column_name="new_values", schema=s)


def downgrade() -> None:
    s = migration_layout().worker_schema
    op.create_table(
        "request_journal_entries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("migration_id", sa.UUID(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("row_key", sa.Text(), nullable=False),
        sa.Column("old_values", postgresql.JSONB(), nullable=False),
        sa.Column("new_values", postgresql.JSONB(), nullable=False),
        schema=s,
    )
    op.execute(_TO_ROWS.format(s=s, spread=_SPREAD))
    op.execute(_SCALE_CURSORS.format(s=s, spread=_SPREAD))
    op.drop_index(INDEX, table_name=TABLE, schema=s)
    op.drop_table(TABLE, schema=s)
    op.rename_table("request_journal_entries", TABLE, schema=s)
    op.create_primary_key("pk_request_journal", TABLE, ["id"], schema=s)
    op.create_index(INDEX, TABLE, ["migration_id", "label", "id"], schema=s)
    op.execute(
        f"SELECT setval(pg_get_serial_sequence('\"{s}\".{TABLE}', 'id'), "
        f'COALESCE((SELECT max(id) FROM "{s}".{TABLE}), 0) + 1, false)'
    )
