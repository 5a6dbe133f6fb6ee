"""The SQL pieces statements over a reference are built from.

Which rows point at a model, which rows are live, whose team they are, and how a model
id inside JSON is matched and rewritten. Identifiers come from references validated by
``check_identifiers``; ids are always bound, never cast: a column meets ``:<name>``
(PostgreSQL types it from the column, whatever the host's key type); JSON meets
``:<name>_doc`` and ``:<name>_doc_num`` (containment documents) and ``:<name>_text``
(the id's canonical text). :func:`id_params` gives every one of them.
"""

from __future__ import annotations

import json
from typing import Any

from db.keys import HostId, id_text
from db.reference import IdForm, JsonPath, Reference, TeamVia


def all_of(*predicates: str) -> str:
    """The predicates joined by ``AND``, leaving out those that are just ``TRUE``."""
    kept = [p for p in predicates if p != "TRUE"]
    return " AND ".join(kept) if kept else "TRUE"


def id_params(ref: Reference, name: str, value: HostId | None) -> dict[str, Any]:
    """The bound values naming ``value`` as ``:<name>`` in statements over ``ref``."""
    params: dict[str, Any] = {name: value, f"{name}_text": None, f"{name}_number": None}
    if value is None:
        return params
    params[f"{name}_text"] = id_text(value)
    params[f"{name}_number"] = value if isinstance(value, int) else None
    numbers = [p for p in (ref.json, ref.json_copy) if p and p.id_as is IdForm.NUMBER]
    if numbers and not isinstance(value, int):
        raise ValueError(f"{ref.label}: id {value} cannot be written as a JSON number")
    if ref.json is not None:
        as_string = _document(ref.json, id_text(value))
        as_number = _document(ref.json, value) if isinstance(value, int) else as_string
        params[f"{name}_doc"] = json.dumps(as_string)
        params[f"{name}_doc_num"] = json.dumps(as_number)
    return params


def _document(path: JsonPath, value: str | int) -> Any:
    """The smallest document holding ``value`` at ``path`` (keys lower-cased, as matched)."""
    doc: Any = value
    for i in reversed(range(len(path.keys))):
        doc = {path.keys[i].lower(): [doc] if i == path.array_at else doc}
    return doc


def path_literal(keys: tuple[str, ...]) -> str:
    """``'{a,b}'``: a text[] path for ``#>``, ``#>>`` and ``jsonb_set`` (keys validated)."""
    return "'{" + ",".join(keys) + "}'"


def canonical_json_sql(column: str, alias: str = "t") -> str:
    """The JSON column with every letter in lower case: UUIDs in their canonical form.

    Lowering the whole document keeps it valid JSON (escapes are lower-case already, and
    ``\\uXXXX`` digits are case-blind). The GIN index on this expression serves ``@>``.
    """
    return f"CAST(lower(CAST({alias}.{column} AS text)) AS jsonb)"


def match_sql(ref: Reference, alias: str = "t", param: str = "model_id") -> str:
    """A predicate true for rows of ``ref`` that point at ``:param``.

    A JSON row matches when its id at the path has the id's canonical text
    (:func:`json_names_sql`), the one comparison the rewrite makes too, so every row
    matched is moved. The containments before it (one per form the id may be written in,
    each served by the GIN index; ``@> ANY(array)`` would not be) only find candidates:
    every row the comparison names, they find.
    """
    if ref.json is not None:
        doc = canonical_json_sql(ref.column, alias)
        return (
            f"({doc} @> CAST(:{param}_doc AS jsonb) OR {doc} @> CAST(:{param}_doc_num AS jsonb))"
            f"\n      AND {json_names_sql(ref.json, alias, param)}"
        )
    return f"{alias}.{ref.column} = :{param}"


def live_row_sql(ref: Reference, alias: str = "t") -> str:
    """A predicate true for live rows (``TRUE`` where nothing marks rows as not live)."""
    if not ref.not_live:
        return "TRUE"
    parts = [
        f"{alias}.{m.column} IS NOT TRUE" if m.boolean else f"{alias}.{m.column} IS NULL"
        for m in ref.not_live
    ]
    return " AND ".join(parts)


def not_live_sql(ref: Reference, alias: str = "t") -> str:
    """A predicate true for rows marked not live: soft-deleted or archived."""
    if not ref.not_live:
        return "FALSE"
    parts = [
        f"{alias}.{m.column} IS TRUE" if m.boolean else f"{alias}.{m.column} IS NOT NULL"
        for m in ref.not_live
    ]
    return parts[0] if len(parts) == 1 else f"({' OR '.join(parts)})"


def _parent_of(via: TeamVia, alias: str) -> str:
    """The join condition from a row (``alias``) to its parent ``p``, on the declared key."""
    return f"p.{via.parent_key} = {alias}.{via.fk_column}"


def parent_join_sql(via: TeamVia, alias: str = "t") -> str:
    """`` JOIN <parent> p ON …``: a row's parent, joined on the key the mapping declares."""
    return f" JOIN {via.parent_table} p ON {_parent_of(via, alias)}"


def team_scope_sql(ref: Reference, alias: str = "t") -> str:
    """A predicate true for rows of ``ref`` that belong to one of the teams
    ``:scope_teams`` (an array of team ids; a row of no team belongs to none)."""
    if ref.team_via:
        via = ref.team_via
        return (
            f"EXISTS (SELECT 1 FROM {via.parent_table} p WHERE {_parent_of(via, alias)} "
            f"AND p.{via.team_column} = ANY(:scope_teams))"
        )
    if ref.team_column:
        return f"{alias}.{ref.team_column} = ANY(:scope_teams)"
    return "FALSE"  # global configuration belongs to no team


def level_scope_sql(ref: Reference, alias: str = "t") -> str:
    """A predicate true for rows of ``ref`` whose parent asks no more than ``:scope_level``."""
    via = ref.team_via
    if via is None or via.level_column is None:
        return "TRUE"
    return (
        f"NOT EXISTS (SELECT 1 FROM {via.parent_table} p WHERE {_parent_of(via, alias)} "
        f"AND p.{via.level_column} > :scope_level)"
    )


def team_sql(ref: Reference, alias: str = "t") -> tuple[str, str]:
    """(FROM-clause addition, team expression) for grouping ``ref`` rows by team."""
    if ref.team_via:
        via = ref.team_via
        return (
            parent_join_sql(via, alias),
            f"p.{via.team_column}",
        )
    if ref.team_column:
        return "", f"{alias}.{ref.team_column}"
    return "", "NULL"


def new_json_value_sql(path: JsonPath, param: str = "target", *, clear: bool) -> str:
    """The JSON value a moved id gets: the target in the path's form, or JSON null."""
    if clear:
        return "'null'::jsonb"
    if path.id_as is IdForm.NUMBER:
        return f"to_jsonb(CAST(:{param}_number AS bigint))"
    return f"to_jsonb(CAST(:{param}_text AS text))"


def json_id_text_of(value: str) -> str:
    """The canonical text of the model id a JSON value holds; NULL if it holds none.

    A string in lower case (UUIDs in any case); a number without trailing zeros (``1``,
    ``1.0`` and ``10e-1`` are all ``1``). Matching, rewriting and usage all compare it.
    """
    return (
        f"CASE jsonb_typeof({value}) WHEN 'string' THEN lower({value} #>> '{{}}') "
        f"WHEN 'number' THEN CAST(trim_scale(CAST({value} AS numeric)) AS text) END"
    )


def _elements(path: JsonPath, alias: str) -> str:
    """The array at ``path`` as ``jsonb_array_elements`` rows ``e(elem, ord)`` (none where
    the document holds no array there)."""
    outer = f"{alias}.{path.column} #> {path_literal(path.outer)}"
    return (
        f"jsonb_array_elements(CASE WHEN jsonb_typeof({outer}) = 'array' "
        f"THEN {outer} ELSE '[]'::jsonb END) WITH ORDINALITY AS e(elem, ord)"
    )


def _id_at(path: JsonPath, alias: str) -> str:
    """The JSON value at ``path`` (of the element ``e`` when the path steps into an array)."""
    if path.array_at is None:
        return f"{alias}.{path.column} #> {path_literal(path.keys)}"
    return f"e.elem #> {path_literal(path.inner)}"


def json_names_sql(path: JsonPath, alias: str = "t", param: str = "source") -> str:
    """A predicate true where the id at ``path`` is ``:<param>_text`` (any element of the
    array, for a path through one)."""
    names = f"{json_id_text_of(_id_at(path, alias))} = :{param}_text"
    if path.array_at is None:
        return names
    return f"EXISTS (SELECT 1 FROM {_elements(path, alias)} WHERE {names})"


def json_rewrite_sql(
    path: JsonPath, alias: str = "t", source: str = "source", *, new_value: str
) -> str:
    """``path.column`` with every id at ``path`` that :func:`json_names_sql` matches to
    ``:<source>`` replaced by ``new_value``; unchanged where nothing matches."""
    col = f"{alias}.{path.column}"
    names = f"{json_id_text_of(_id_at(path, alias))} = :{source}_text"
    if path.array_at is None:
        at = path_literal(path.keys)
        return (
            f"CASE WHEN {names}\n"
            f"            THEN jsonb_set({col}, {at}, {new_value})\n"
            f"            ELSE {col} END"
        )
    outer, inner = path_literal(path.outer), path_literal(path.inner)
    return f"""CASE WHEN jsonb_typeof({col} #> {outer}) = 'array' THEN jsonb_set({col}, {outer}, (
        SELECT COALESCE(jsonb_agg(
            CASE WHEN {names}
                 THEN jsonb_set(e.elem, {inner}, {new_value})
                 ELSE e.elem END
            ORDER BY e.ord), '[]'::jsonb)
        FROM {_elements(path, alias)}))
    ELSE {col} END"""


def json_id_text_sql(path: JsonPath, alias: str = "t") -> tuple[str, str]:
    """(FROM-clause addition, the id's canonical text) reading the id at ``path``.

    Through an array, each element is a row of its own (``e``); a non-array is none.
    """
    join = "" if path.array_at is None else f" CROSS JOIN LATERAL {_elements(path, alias)}"
    return join, json_id_text_of(_id_at(path, alias))


def new_column_value_sql(ref: Reference, *, clear: bool, source: str = "source") -> str:
    """``SET`` assignments moving a column reference (and its JSON copy, where the copy
    holds ``:<source>``) to ``:target``, or clearing them."""
    assignment = f"{ref.column} = {'NULL' if clear else ':target'}"
    if ref.json_copy is not None:
        value = new_json_value_sql(ref.json_copy, clear=clear)
        rewrite = json_rewrite_sql(ref.json_copy, source=source, new_value=value)
        assignment += f",\n        {ref.json_copy.column} = {rewrite}"
    return assignment


def ids_in_sql(ref: Reference, alias: str = "t") -> tuple[str, str, str]:
    """(FROM-clause addition, the model id's canonical text, a condition): rows of ``ref``
    naming one of the ids in ``:ids`` (their canonical texts in ``:id_texts``)."""
    if ref.json is not None:
        elements, model = json_id_text_sql(ref.json, alias)
        # Ids are compared in canonical (lower-case) text, however the host wrote them.
        return elements, model, f"{model} = ANY(CAST(:id_texts AS text[]))"
    return "", f"CAST({alias}.{ref.column} AS text)", f"{alias}.{ref.column} = ANY(:ids)"
