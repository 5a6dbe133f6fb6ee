"""What the jobs write into the host, held against its schema (part of ``platform check``).

A model the catalog sync inserts and a row a migration inserts into a link table need a
value for every NOT NULL column without a default: a field the worker writes, or a
constant of the mapping (``insert``). A joined model column is looked up by its value, so
each value must name one row (within the mapping's ``filter``). Constants are proved by
PostgreSQL itself: it prepares the statement that writes them, which it never runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.platform.mapping import Models, ReferenceEntry
from db.platform.model_view import ModelView, q
from db.reference import Constant, constant_sql

if TYPE_CHECKING:
    from db.platform.check import _Checker as Checker


# Model fields the worker may write NULL, and when: their column must allow it.
_NULLABLE_FIELDS = {
    "team": "a global model has no team",
    "litellm_model": "a model with no lookup key",
    "security_level": "a model with no security level",
    "state.deprecation_date": "a model with no retirement date",
    "state.deprecation_source": "a model not deprecated",
    "state.replacement": "a model with no replacement",
    "state.migrated_to": "a model not migrated",
    "state.deleted_at": "a model not deleted",
}
_INSERT_HINT = 'a constant, or "now()" for the time of the insert'


def check_model_writes(c: Checker) -> None:
    """Every column a new model row needs gets a value: the host's default, a field the
    worker writes, or a constant from ``[models] insert``."""
    models = c.mapping.models
    table = models.table
    required = c.catalog.required.get(table, set())
    if models.id in required:
        c.add(
            "error",
            "models.id",
            f"{table}.{models.id} has no default or identity: the worker inserts a model "
            "without an id (catalog sync would fail)",
            f"give {table}.{models.id} a default or identity on the host",
        )
    mapped = models.columns()
    not_null = c.catalog.not_null.get(table, set())
    for name, why in _NULLABLE_FIELDS.items():
        if mapped.get(name) in not_null:
            c.add(
                "error",
                f"models.{name}",
                f"{table}.{mapped[name]} is NOT NULL, and the worker writes NULL there for {why}",
                f"map a column that allows NULL, or leave {name!r} out of the mapping",
            )
    if ModelView(c.mapping, "", c.catalog.schema).is_plain():
        # No trigger: the insert leaves the timestamps to the host's defaults.
        for name in ("created_at", "updated_at"):
            if mapped.get(name) in required:
                c.add(
                    "error",
                    f"models.{name}",
                    f"{table}.{mapped[name]} is NOT NULL without a default, and an insert "
                    "through the plain models view gives it no value (catalog sync would fail)",
                    f"give {table}.{mapped[name]} a default on the host (DEFAULT now())",
                )
    for column in sorted(required - set(mapped.values()) - set(models.insert)):
        c.add(
            "error",
            "models",
            f"{table}.{column} is NOT NULL without a default, and the mapping gives it no "
            "value: inserting a model (catalog sync) would fail",
            f"add it to [models]: insert = {{ {column} = … }} ({_INSERT_HINT}), "
            "or give the column a default on the host",
        )
    for column in models.insert:
        c.column("models.insert", table, column, None)


def check_link_columns(c: Checker, ref: ReferenceEntry) -> None:
    """A move inserts ``(key, column)`` rows into a link table: every other column they
    need comes from the host's default or the reference's ``insert``."""
    written = {ref.key, ref.column, *ref.insert}
    for column in sorted(c.catalog.required.get(ref.table, set()) - written):
        c.add(
            "error",
            f"reference {ref.label}",
            f"{ref.table}.{column} is NOT NULL without a default: a migration inserts "
            f"({ref.key}, {ref.column}) rows here and every one would fail",
            f"add to this reference: insert = {{ {column} = … }} ({_INSERT_HINT}), "
            "or give the column a default on the host",
        )
    for column in ref.insert:
        c.column(f"reference {ref.label}", ref.table, column, None)


async def _refusal(conn: AsyncConnection, statement: str) -> str | None:
    """Why PostgreSQL refuses ``statement`` when preparing it (never run); None: it does."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    try:
        async with conn.begin_nested():
            await driver.prepare(statement)
    except Exception as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


async def check_constants(
    c: Checker, conn: AsyncConnection, subject: str, table: str, values: dict[str, Constant]
) -> None:
    """The ``insert`` constants fit their columns: PostgreSQL prepares the INSERT the
    worker writes them with (a value of the wrong type is refused there)."""
    if not values or any(f.subject == subject for f in c.report.errors):
        return
    columns = ", ".join(q(column) for column in values)
    literals = ", ".join(constant_sql(value) for value in values.values())
    target = f"{q(c.catalog.schema)}.{q(table)}"
    refused = await _refusal(conn, f"INSERT INTO {target} ({columns}) SELECT {literals}")
    if refused:
        c.add("error", subject, f"insert: the values do not fit {table}: {refused}")


async def check_joined_values(c: Checker, conn: AsyncConnection, models: Models) -> None:
    """A joined value names one row (within the filter): the worker looks the key up by
    it when it inserts a model, and cannot choose between several rows."""
    for name, place in models.joined().items():
        subject = f"models.{name}"
        if any(f.subject.startswith(subject) for f in c.report.errors):
            continue
        where = " AND ".join(f"{q(k)} = {constant_sql(v)}" for k, v in place.filter.items())
        statement = (
            f"SELECT CAST({q(place.column)} AS text) AS value, count(*) AS n, "
            f"count(*) OVER () AS values FROM {q(c.catalog.schema)}.{q(place.table)} "
            f"WHERE {where or 'true'} GROUP BY {q(place.column)} HAVING count(*) > 1 "
            "ORDER BY n DESC, value LIMIT 3"
        )
        refused = await _refusal(conn, statement)
        if refused:
            c.add("error", f"{subject}.filter", f"the filter does not fit {place.table}: {refused}")
            continue
        duplicates = (await conn.execute(text(statement))).all()
        if not duplicates:
            continue
        shown = ", ".join(f"{row.value!r}: {row.n} rows" for row in duplicates)
        more = duplicates[0].values - len(duplicates)
        shown += f", and {more} more value(s)" if more > 0 else ""
        filter_hint = ", ".join(f"{k} = …" for k in place.filter) or "column = …"
        c.add(
            "error",
            subject,
            f"{place.table}.{place.column} names more than one row for a value ({shown}"
            f"{' within the filter' if place.filter else ''}): a model inserted with it "
            f"cannot choose its {place.via} (catalog sync would fail)",
            f"give [models] {name} a filter that leaves one row per value: "
            f'{name} = {{ via = "{place.via}", table = "{place.table}", '
            f'column = "{place.column}", filter = {{ {filter_hint} }} }}',
        )
