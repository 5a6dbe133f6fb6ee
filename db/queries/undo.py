"""SQL of undo: putting back, from a request's journal, what its batches changed.

A batch takes one journal row of one reference (the entries of one statement of the
request), newest first, and, for each entry, puts the row back only where it still holds
what the request wrote (``new_values``); every other entry is a row changed since, left
alone. Statements take the reference row's key type (read
with :func:`db.queries.keys.key_type`) to compare the journal's text keys with the host's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import TextClause, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId, parse_host_id
from db.models import LlmModel
from db.queries.keys import KEY_TYPES
from db.queries.repointing import changed_columns, journaled_columns, row_values_sql
from db.reference import Reference, Shape, check_identifiers


def _entries(*, first: bool) -> str:
    # One journal row (one statement's entries) of the reference, the newest before the
    # cursor: one backward step on the (migration_id, label, id) index.
    before = "" if first else " AND j.id < :before"
    return f"""
WITH journal AS (
    SELECT j.id, j.row_keys, j.old_values, j.new_values FROM request_journal j
    WHERE j.migration_id = :migration_id AND j.label = CAST(:label AS text){before}
    ORDER BY j.migration_id DESC, j.label DESC, j.id DESC LIMIT 1
),
entries AS (
    SELECT e.row_key, e.old_values, e.new_values
    FROM journal j,
         unnest(j.row_keys, j.old_values, j.new_values) AS e(row_key, old_values, new_values)
),"""


_OUTCOME = """
SELECT (SELECT count(*) FROM entries) AS selected, (SELECT count(*) FROM {done}) AS restored,
       (SELECT id FROM journal) AS last_id
"""


@cache
def undo_batch_statement(
    ref: Reference, key_type: str, *, clear: bool, dry_run: bool = False, first: bool = False
) -> TextClause:
    """Put back the entries of one journal row of ``ref`` for request ``:migration_id``:
    the newest before journal id ``:before`` (``first``: the newest of all).

    ``clear`` says whether the request cleared its rows (no target) rather than moving
    them. A dry run changes nothing and counts what would be put back. Returns (entries
    read, rows put back, the journal row's id: the cursor; ``NULL`` once none is left).
    """
    check_identifiers((ref,))
    if key_type not in KEY_TYPES:
        raise ValueError(f"{ref.label}: unknown key type {key_type!r}")
    if ref.shape is Shape.LINK:
        return _link_undo(ref, key_type, dry_run=dry_run, first=first)
    return _update_undo(ref, key_type, clear=clear, dry_run=dry_run, first=first)


def _update_undo(
    ref: Reference, key_type: str, *, clear: bool, dry_run: bool, first: bool
) -> TextClause:
    # A row still holding what the request wrote gets each changed column back: the
    # model column the source, every other (JSON) column its value as journaled.
    # Each entry finds its row by the key's index (no ``= ANY(array)`` beside the join:
    # a nested loop would probe the whole array for every entry).
    key = ref.key_column
    columns = changed_columns(ref, clear=clear)
    holds = f"t.{key} = CAST(e.row_key AS {key_type})"
    if ref.shape is Shape.COLUMN:
        # The model column is not journaled: the request left the target in it (NULL for
        # a clear). Not ``=``, which would offer the planner that column's index, whose
        # statistics still show the rows on the source: the key's index finds the row.
        holds += f"\n      AND t.{ref.column} IS NOT DISTINCT FROM :target"
    journaled = journaled_columns(ref, clear=clear)
    if journaled:
        holds += f"\n      AND {row_values_sql(journaled)} = e.new_values"
    if dry_run:
        work = f"""
restored AS (SELECT e.row_key FROM entries e JOIN {ref.table} t ON {holds})"""
    else:
        assignment = ",\n        ".join(
            f"{c} = :source"
            if c == ref.column and ref.shape is Shape.COLUMN
            else f"{c} = e.old_values -> '{c}'"
            for c in columns
        )
        work = f"""
restored AS (
    UPDATE {ref.table} t SET {assignment}
    FROM entries e
    WHERE {holds}
    RETURNING t.{key}
)"""
    return text(f"{_entries(first=first)}{work}{_OUTCOME.format(done='restored')}")


def _link_undo(ref: Reference, key_type: str, *, dry_run: bool, first: bool) -> TextClause:
    # A space is put back when it has no link to the source again and still has the
    # target's link the request inserted (one it had before stays, and is not removed).
    key, column = ref.key_column, ref.column
    of_row = f"t.{key} = CAST(e.row_key AS {key_type})"
    added = "CAST(e.new_values ->> 'added' AS boolean)"
    restorable = f"""
restorable AS (
    SELECT e.row_key, e.old_values, {added} AS added FROM entries e
    WHERE NOT EXISTS (SELECT 1 FROM {ref.table} t WHERE {of_row} AND t.{column} = :source)
      AND (NOT {added} OR EXISTS (
          SELECT 1 FROM {ref.table} t WHERE {of_row} AND t.{column} = :target))
)"""
    if dry_run:
        return text(f"{_entries(first=first)}{restorable}{_OUTCOME.format(done='restorable')}")
    return text(
        f"""{_entries(first=first)}{restorable},
removed AS (
    DELETE FROM {ref.table} t USING restorable r
    WHERE r.added AND t.{key} = CAST(r.row_key AS {key_type}) AND t.{column} = :target
),
restored AS (
    INSERT INTO {ref.table}
    SELECT (jsonb_populate_record(NULL::{ref.table}, r.old_values)).* FROM restorable r
    ON CONFLICT DO NOTHING
    RETURNING {key}
){_OUTCOME.format(done="restored")}"""
    )


@dataclass(frozen=True)
class UndoOutcome:
    selected: int
    restored: int
    last_id: int | None


async def undo_batch(
    session: AsyncSession,
    ref: Reference,
    key_type: str,
    *,
    migration_id: uuid.UUID,
    source: HostId,
    target: HostId | None,
    before: int | None,
    dry_run: bool,
) -> UndoOutcome:
    """Put back (or, in a dry run, count) the entries of ``ref``'s next journal row."""
    params: dict[str, Any] = {
        "migration_id": migration_id,
        "label": ref.label,
        "source": source,
    }
    if ref.shape is not Shape.JSON:
        params["target"] = target
    if before is not None:
        params["before"] = before
    statement = undo_batch_statement(
        ref, key_type, clear=target is None, dry_run=dry_run, first=before is None
    )
    row = (await session.execute(statement, params)).one()
    last = None if row.last_id is None else int(row.last_id)
    return UndoOutcome(int(row.selected), int(row.restored), last)


async def journaled_labels(session: AsyncSession, migration_id: uuid.UUID) -> set[str]:
    """The labels a request journaled rows for."""
    found = await session.scalars(
        text("SELECT DISTINCT label FROM request_journal WHERE migration_id = :id"),
        {"id": migration_id},
    )
    return set(found)


async def clear_source_mark(session: AsyncSession, source: HostId, *, kind: str) -> bool:
    """Clear the source's migrated (``kind`` migration) or deleted mark; whether it had one."""
    column = LlmModel.migrated_to_model_id if kind == "migration" else LlmModel.deleted_at
    result = await session.execute(
        update(LlmModel)
        .where(LlmModel.id == source, column.is_not(None))
        .values({column.key: None})
    )
    return bool(getattr(result, "rowcount", 0))


async def point_back(
    session: AsyncSession,
    *,
    source: HostId,
    target: HostId | None,
    migrated: list[str],
    replaced: list[str],
) -> dict[str, int]:
    """Models the request re-pointed from ``source`` to ``target`` name ``source`` again,
    where they still name ``target``."""
    counts = {"migrated_pointers": 0, "replacement_pointers": 0}
    for name, ids, column in (
        ("migrated_pointers", migrated, LlmModel.migrated_to_model_id),
        ("replacement_pointers", replaced, LlmModel.replacement_model_id),
    ):
        if not ids:
            continue
        still = column == target if target is not None else column.is_(None)
        found = list(
            await session.scalars(
                select(LlmModel.id).where(LlmModel.id.in_([parse_host_id(i) for i in ids]), still)
            )
        )
        if found:
            await session.execute(
                update(LlmModel).where(LlmModel.id.in_(found)).values({column.key: source})
            )
        counts[name] = len(found)
    return counts
