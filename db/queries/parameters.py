"""SQL of model parameters carried to a migration's target.

A reference may keep the model's parameters in a jsonb column (``{"temperature": 0.2,
"max_tokens": 512}``). Which of them the target takes, and under which name, is decided
per ``(key, value)`` pair by the jobs layer; it hands the decisions to a move as rules,
bound as ``:param_rules``, a JSON array of::

    {"k": key, "v": value, "to": new key or null, "set": new value or null, "drop": bool}

A row is moved only when every pair it holds has a rule (:func:`covered_sql`): a row
written meanwhile with a pair nobody decided on waits for the final sweep, whose rules are
read under the source row lock. A value that is not a JSON object is left as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId
from db.queries.reference_sql import all_of, id_params, live_row_sql, match_sql, team_scope_sql
from db.reference import Reference, check_identifiers


def _pairs_of(column: str, alias: str) -> str:
    """The row's ``(key, value)`` pairs, none when the column is not a JSON object."""
    value = f"{alias}.{column}"
    return f"jsonb_each(CASE WHEN jsonb_typeof({value}) = 'object' THEN {value} ELSE '{{}}' END)"


_RULES = "jsonb_array_elements(CAST(:param_rules AS jsonb)) AS r(rule)"
_RULE_OF_PAIR = "r.rule ->> 'k' = e.key AND r.rule -> 'v' = e.value"


def covered_sql(ref: Reference, alias: str = "t") -> str:
    """A predicate true for rows whose every parameter pair has a rule."""
    assert ref.parameters is not None
    return f"""NOT EXISTS (
        SELECT 1 FROM {_pairs_of(ref.parameters, alias)} AS e
        WHERE NOT EXISTS (SELECT 1 FROM {_RULES} WHERE {_RULE_OF_PAIR}))"""


def rewrites(rules: list[dict[str, Any]]) -> bool:
    """Whether any rule changes its pair (renames, sets or drops it): if none does, every
    covered row's parameters stay as they are and a move leaves the column alone."""
    return any(r.get("to") is not None or "set" in r or r.get("drop") for r in rules)


def translated_sql(ref: Reference, alias: str = "t") -> str:
    """The parameters column rewritten by the rules: kept, renamed, set or dropped.

    A renamed key that meets the same key written under the target's own name yields to
    it (the team's own value wins): the aggregate takes renamed pairs first, and the last
    value of a key is the one jsonb keeps.
    """
    assert ref.parameters is not None
    column = f"{alias}.{ref.parameters}"
    return f"""CASE WHEN jsonb_typeof({column}) = 'object' THEN (
        SELECT COALESCE(
            jsonb_object_agg(
                COALESCE(r.rule ->> 'to', e.key), COALESCE(r.rule -> 'set', e.value)
                ORDER BY (r.rule ->> 'to') IS NULL, e.key
            ),
            '{{}}'::jsonb)
        FROM {_pairs_of(ref.parameters, alias)} AS e
        LEFT JOIN LATERAL (SELECT rule FROM {_RULES} WHERE {_RULE_OF_PAIR} LIMIT 1) AS r ON TRUE
        WHERE NOT COALESCE(CAST(r.rule ->> 'drop' AS boolean), FALSE)
    ) ELSE {column} END"""


@dataclass(frozen=True)
class ParameterPair:
    key: str
    value: Any
    rows: int


def parameter_pairs_statement(ref: Reference, *, team_scoped: bool = False) -> TextClause:
    """Every ``(key, value)`` pair the live rows of ``ref`` on ``:source`` hold, with how
    many rows hold it (the rows of the teams ``:scope_teams`` only, ``team_scoped``)."""
    check_identifiers((ref,))
    assert ref.parameters is not None
    where = all_of(match_sql(ref, "t", "source"), live_row_sql(ref, "t"))
    if team_scoped:
        where = all_of(where, team_scope_sql(ref, "t"))
    return text(
        f"""SELECT e.key, CAST(e.value AS text) AS value, count(*) AS rows
        FROM {ref.table} t, {_pairs_of(ref.parameters, "t")} AS e
        WHERE {where}
        GROUP BY e.key, e.value
        ORDER BY e.key, count(*) DESC"""
    )


async def parameter_pairs(
    session: AsyncSession,
    ref: Reference,
    source: HostId,
    teams: tuple[HostId, ...] | None = None,
) -> list[ParameterPair]:
    """Every ``(key, value)`` pair the live rows of ``ref`` pointing at ``source`` hold
    (those of ``teams`` only, when given), with how many rows hold it."""
    params = id_params(ref, "source", source)
    if teams is not None:
        params["scope_teams"] = list(teams)
    statement = parameter_pairs_statement(ref, team_scoped=teams is not None)
    result = await session.execute(statement, params)
    return [ParameterPair(r.key, json.loads(r.value), int(r.rows)) for r in result]
