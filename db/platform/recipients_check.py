"""What ``platform check`` holds the recipients query to: what the fan-out can run.

The fan-out runs the query on its own, in a read-only transaction, and reads its columns
by name (see ``db.queries.recipients``). So the check prepares it, reads its result
columns, and plans it (generic plan, never run) to refuse what a read-only transaction
refuses: a data-modifying statement anywhere in it, or row locks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from db.platform.mapping import RECIPIENT_COLUMNS, bind_recipients

KEY_TYPES = {"uuid": "uuid", "int8": "bigint", "int4": "integer"}
TEXT_TYPES = {"text", "varchar", "bpchar", "citext"}
_STATEMENT = "lifecycle_check_recipients"
_PREPARED = "SELECT count(*) FROM pg_prepared_statements WHERE name = $1"
_INSUFFICIENT_PRIVILEGE = "42501"


@dataclass
class RecipientsVerdict:
    """Errors (each a sentence), or what the ``ok`` line says; the user key type read."""

    errors: list[str] = field(default_factory=list)
    ok: str | None = None
    user_key: str | None = None


async def check_recipients(
    conn: AsyncConnection, query: str, team_key: str | None
) -> RecipientsVerdict:
    """Prepare and plan (never run) ``query``; ``team_key`` is the team ids' SQL type."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    sql = bind_recipients(query, "$1", "$2")
    plan: Any = None
    try:
        async with driver.transaction(readonly=True):
            statement = await driver.prepare(sql)
            columns = [(a.name, a.type.name) for a in statement.get_attributes()]
            try:
                async with driver.transaction():  # a savepoint: a refused plan is not fatal
                    plan = await _generic_plan(driver, sql, len(statement.get_parameters()))
            except Exception as exc:
                # Planning checks the reading role's privileges; preparing does not. A role
                # that may not read the query's tables (the schema's owner running `db
                # upgrade`) still learns its columns; the worker's role plans it.
                if getattr(exc, "sqlstate", None) != _INSUFFICIENT_PRIVILEGE:
                    raise
    except Exception as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return RecipientsVerdict(errors=[f"the query does not prepare: {message}"])
    finally:
        # A prepared statement outlives the transaction, even one that failed.
        if await driver.fetchval(_PREPARED, _STATEMENT):
            await driver.execute(f"DEALLOCATE {_STATEMENT}")
    verdict = RecipientsVerdict(errors=_plan_problems(plan) if plan is not None else [])
    _judge_columns(verdict, columns, team_key)
    if not verdict.errors:
        names = [name for name, _ in columns]
        others = [n for n in names if n not in RECIPIENT_COLUMNS]
        verdict.ok = "the query returns team_id, user_id, email (read by name" + (
            f"; {', '.join(others)} ignored)" if others else ")"
        )
        if plan is None:
            verdict.ok += (
                "; its plan was not read: this role may not read the query's tables (the "
                "worker's role, holding `platform grants`, reads it)"
            )
    return verdict


async def _generic_plan(driver: Any, sql: str, parameters: int) -> Any:
    """The query's generic plan (parameters left unknown, so nothing is folded away)."""
    await driver.execute("SET LOCAL plan_cache_mode = force_generic_plan")
    # ``fetch`` sends one statement through the extended protocol: the query cannot
    # smuggle a second one in.
    await driver.fetch(f"PREPARE {_STATEMENT} AS {sql}")
    nulls = ", ".join(["NULL"] * parameters)
    args = f"({nulls})" if parameters else ""
    plan = await driver.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE {_STATEMENT}{args}")
    # SQLAlchemy's driver connection decodes json itself; a bare one returns text.
    return json.loads(plan) if isinstance(plan, str) else plan


def _nodes(plan: Any) -> Iterator[dict[str, Any]]:
    if isinstance(plan, list):
        for item in plan:
            yield from _nodes(item)
    elif isinstance(plan, dict):
        if "Node Type" in plan:
            yield plan
        for key in ("Plan", "Plans"):
            if key in plan:
                yield from _nodes(plan[key])


def _plan_problems(plan: Any) -> list[str]:
    """What a read-only transaction would refuse, as the plan shows it."""
    problems = []
    for node in _nodes(plan):
        if node["Node Type"] == "ModifyTable":
            what = f"{node.get('Operation', 'a change').upper()} into {node.get('Relation Name')}"
            problems.append(
                f"the query writes ({what}): it runs in a read-only transaction and may only read"
            )
        elif node["Node Type"] == "LockRows":
            problems.append(
                "the query locks rows (FOR UPDATE/SHARE): it runs in a read-only transaction, "
                "which refuses row locks"
            )
    return sorted(set(problems))


def _judge_columns(
    verdict: RecipientsVerdict, columns: list[tuple[str, str]], team_key: str | None
) -> None:
    names = [name for name, _ in columns]
    missing = [col for col in RECIPIENT_COLUMNS if col not in names]
    if missing:
        verdict.errors.append(
            f"the query returns {', '.join(names) or 'no columns'}; "
            f"missing {', '.join(missing)} (it must return team_id, user_id, email)"
        )
        return
    twice = [col for col in RECIPIENT_COLUMNS if names.count(col) > 1]
    if twice:
        verdict.errors.append(
            f"the query returns {', '.join(twice)} more than once (columns are read by name)"
        )
    types = dict(reversed(columns))  # the first column of a name is the one read
    verdict.user_key = KEY_TYPES.get(types["user_id"])
    if verdict.user_key is None:
        verdict.errors.append(f"user_id is {types['user_id']}, expected a key type")
    if team_key and KEY_TYPES.get(types["team_id"]) != team_key:
        verdict.errors.append(f"team_id is {types['team_id']}, team ids are {team_key}")
    if types["email"] not in TEXT_TYPES:
        verdict.errors.append(f"email is {types['email']}, expected text")
