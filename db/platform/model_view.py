"""The ``models`` view: one model table, whatever shape the host gives it.

Every job reads and writes models through ``<LIFECYCLE_SCHEMA>.models``, a view with the
same columns on every platform (the reference platform's names). It is generated from the
platform mapping by ``lifecycle db upgrade``:

- a column the host has is read from the host's model table (or from a table one foreign
  key away, for a joined column);
- lifecycle state the host keeps no column for is read from the worker's ``model_state``
  table, keyed by model id;
- an optional field the host does not map reads as its default (display name = name,
  capabilities false, no security level, no lookup key).

When the host has every column (the reference platform) the view is a plain projection of
the host table, which PostgreSQL updates by itself. Otherwise an ``INSTEAD OF`` trigger
sends each write where it belongs: host columns to the host's row, the rest to
``model_state``; fields the host has no place for are not written, and an update writes
only the columns its statement changed (never a stale read of the others). Locking a row of the
view (``FOR UPDATE`` / ``FOR SHARE``) locks the host's model row.

The view checks the privileges of the role that uses it (``security_invoker``,
PostgreSQL 15+), never its owner's: a worker's role reads and writes the host's model
table only as far as its own grants allow (``lifecycle platform grants``).

Identifiers come from the validated mapping (plain lower-case names) and the checked
schema names; they are quoted all the same.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from db.platform.mapping import Joined, PlatformMapping
from db.reference import constant_sql

VIEW = "models"
STATE_TABLE = "model_state"
WRITE_FUNCTION = "models_write"

# The view's columns, in order, with their SQL types (``None``: the host's key type).
COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("id", None),
    ("provider", "text"),
    ("name", "text"),
    ("display_name", "text"),
    ("team_id", None),
    ("litellm_model", "text"),
    ("token_limit", "integer"),
    ("supports_vision", "boolean"),
    ("supports_tools", "boolean"),
    ("supports_reasoning", "boolean"),
    ("security_level", "integer"),
    ("deprecated", "boolean"),
    ("deprecation_date", "date"),
    ("deprecation_source", "text"),
    ("replacement_model_id", None),
    ("migrated_to_model_id", None),
    ("deleted_at", "timestamptz"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
)
# View column -> the mapping's field for it (``state.*``: under [models.state]).
FIELDS = {
    "provider": "provider",
    "name": "name",
    "display_name": "display_name",
    "team_id": "team",
    "litellm_model": "litellm_model",
    "token_limit": "token_limit",
    "supports_vision": "vision",
    "supports_tools": "tools",
    "supports_reasoning": "reasoning",
    "security_level": "security_level",
    "deprecated": "state.deprecated",
    "deprecation_date": "state.deprecation_date",
    "deprecation_source": "state.deprecation_source",
    "replacement_model_id": "state.replacement",
    "migrated_to_model_id": "state.migrated_to",
    "deleted_at": "state.deleted_at",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
# What an unmapped optional field reads as.
DEFAULTS = {
    "litellm_model": "NULL::text",
    "supports_vision": "false",
    "supports_tools": "false",
    "supports_reasoning": "false",
    "security_level": "NULL::integer",
    "created_at": "NULL::timestamptz",
    "updated_at": "NULL::timestamptz",
}


def _if_changed(column: str, current: str, value: str, *, also_on_insert: bool = False) -> str:
    """``value`` where the statement changed view column ``column``, else ``current``: a
    write never carries a column it did not set back from its (possibly stale) read.
    ``also_on_insert``: the statement may be an insert (``OLD`` is NULL), which writes all."""
    guard = "TG_OP = 'UPDATE' AND " if also_on_insert else ""
    return (
        f"CASE WHEN {guard}NEW.{column} IS NOT DISTINCT FROM OLD.{column} "
        f"THEN {current} ELSE {value} END"
    )


def q(name: str) -> str:
    """A quoted identifier (names are validated lower-case SQL names already)."""
    return '"' + name.replace('"', '""') + '"'


def source_of(mapping: PlatformMapping, column: str) -> str | Joined | None:
    """Where a view column comes from: a host column name, a joined column, or None."""
    models = mapping.models
    field = FIELDS[column]
    if field.startswith("state."):
        value: str | Joined | None = getattr(models.state, field.removeprefix("state."))
        return value
    value = getattr(models, field)
    return value


def kept_by_worker(mapping: PlatformMapping) -> list[str]:
    """View columns whose values live in the worker's ``model_state``."""
    return [
        column
        for column, field in FIELDS.items()
        if field.startswith("state.") and source_of(mapping, column) is None
    ]


def stored_columns(mapping: PlatformMapping) -> frozenset[str]:
    """View columns a write keeps (in a host column or in ``model_state``); a write to any
    other column is dropped, and it reads as its default."""
    return frozenset(c for c in FIELDS if source_of(mapping, c) is not None) | frozenset(
        kept_by_worker(mapping)
    )


@dataclass(frozen=True)
class ModelView:
    """The view (and its write trigger) for one mapping in one pair of schemas."""

    mapping: PlatformMapping
    worker_schema: str
    host_schema: str

    @property
    def host_table(self) -> str:
        return f"{q(self.host_schema)}.{q(self.mapping.models.table)}"

    @property
    def state_table(self) -> str:
        return f"{q(self.worker_schema)}.{STATE_TABLE}"

    @property
    def view(self) -> str:
        return f"{q(self.worker_schema)}.{VIEW}"

    def _source(self, column: str) -> str | Joined | None:
        return source_of(self.mapping, column)

    def kept_by_worker(self) -> list[str]:
        """View columns whose values live in ``model_state``."""
        return kept_by_worker(self.mapping)

    def is_plain(self) -> bool:
        """Whether every column is a host column of the model table itself and no other
        column needs a value on insert (no trigger)."""
        if self.mapping.models.insert:
            return False
        return all(isinstance(self._source(c), str) for c, _ in COLUMNS if c != "id")

    def _matching(self, source: Joined, column: str) -> str:
        """``FROM … WHERE`` of the joined rows whose value is ``NEW.<column>`` (the
        mapping's ``filter`` narrows them; a write needs exactly one)."""
        where = [f"j.{q(source.column)} = NEW.{column}"]
        where += [f"j.{q(name)} = {constant_sql(v)}" for name, v in source.filter.items()]
        return f"FROM {q(self.host_schema)}.{q(source.table)} j WHERE {' AND '.join(where)}"

    def _read(self, column: str, sql_type: str | None) -> str:
        if column == "id":
            return f"m.{q(self.mapping.models.id)}"
        source = self._source(column)
        if isinstance(source, str):
            own = f"m.{q(source)}"
            return own if self.is_plain() or sql_type is None else f"CAST({own} AS {sql_type})"
        if isinstance(source, Joined):
            joined = (
                f"(SELECT j.{q(source.column)} FROM {q(self.host_schema)}.{q(source.table)} j "
                f"WHERE j.{q(source.key)} = m.{q(source.via)})"
            )
            return joined if sql_type is None else f"CAST({joined} AS {sql_type})"
        if column in self.kept_by_worker():
            kept = (
                f"(SELECT s.{column} FROM {self.state_table} s "
                f"WHERE s.model_id = m.{q(self.mapping.models.id)})"
            )
            return f"COALESCE({kept}, false)" if column == "deprecated" else kept
        if column == "display_name":
            return self._read("name", "text")
        if column == "team_id":
            # No team column: every model is global. A NULL of the id's own type.
            return f"CASE WHEN false THEN m.{q(self.mapping.models.id)} END"
        return DEFAULTS[column]

    def view_sql(self) -> str:
        select = ",\n    ".join(f"{self._read(c, t)} AS {c}" for c, t in COLUMNS)
        return (
            f"CREATE OR REPLACE VIEW {self.view} WITH (security_invoker = true) AS\n"
            f"SELECT\n    {select}\nFROM {self.host_table} m"
        )

    def _host_writes(self) -> list[tuple[str, str, str]]:
        """(host column, value on insert, value on update) for every written host column.

        An update writes a host column only where the statement changed its view column
        (``NEW`` differs from ``OLD``); every other column keeps the row's current value,
        which is newer than the statement's read when it waited for another writer's lock.
        """
        writes: list[tuple[str, str, str]] = []
        for column in FIELDS:
            source = self._source(column)
            value = f"NEW.{column}"
            if isinstance(source, Joined):
                lookup = f"(SELECT j.{q(source.key)} {self._matching(source, column)})"
                host, on_insert, on_update = source.via, lookup, lookup
            elif not isinstance(source, str):
                continue
            elif column in ("created_at", "updated_at"):
                host, on_insert = source, f"COALESCE({value}, now())"
                on_update = on_insert
            elif column == "deprecated":
                host, on_insert = source, f"COALESCE({value}, false)"
                on_update = on_insert
            elif column.startswith("supports_"):
                host, on_insert, on_update = source, f"COALESCE({value}, false)", value
            else:
                host, on_insert, on_update = source, value, value
            writes.append((host, on_insert, _if_changed(column, f"h.{q(host)}", on_update)))
        return writes

    def _joined_checks(self) -> str:
        """Refuse a joined value that names no row, or several, when it is looked up (an
        insert, or an update that changes it), naming the table and the mapping's fix."""
        checks = []
        for column in FIELDS:
            source = self._source(column)
            if isinstance(source, Joined):
                rows = self._matching(source, column)
                where = f"{source.column} = %" + (" within its filter" if source.filter else "")
                field = FIELDS[column]
                checks.append(
                    f"    IF NEW.{column} IS NOT NULL AND (CASE WHEN TG_OP = 'INSERT' THEN true\n"
                    f"            ELSE NEW.{column} IS DISTINCT FROM OLD.{column} END) THEN\n"
                    f"        IF NOT EXISTS (SELECT 1 {rows}) THEN\n"
                    f"            RAISE EXCEPTION 'no row of {source.table} has {where}', "
                    f"NEW.{column} USING ERRCODE = 'foreign_key_violation';\n"
                    f"        ELSIF (SELECT count(*) {rows}) > 1 THEN\n"
                    f"            RAISE EXCEPTION 'more than one row of {source.table} has "
                    f"{where}: give [models] {field} a filter that leaves one', "
                    f"NEW.{column} USING ERRCODE = 'cardinality_violation';\n"
                    f"        END IF;\n"
                    f"    END IF;\n"
                )
        return "".join(checks)

    def write_function_sql(self) -> str:
        """The ``INSTEAD OF`` trigger function (only for a view that is not plain)."""
        model_id = q(self.mapping.models.id)
        writes = self._host_writes()
        constants = self.mapping.models.insert.items()
        insert_columns = ", ".join([*(q(c) for c, _, _ in writes), *(q(c) for c, _ in constants)])
        insert_values = ", ".join(
            [*(v for _, v, _ in writes), *(constant_sql(v) for _, v in constants)]
        )
        updates = ",\n            ".join(f"{q(c)} = {u}" for c, _, u in writes)
        kept = self.kept_by_worker()
        state = ""
        cleanup = ""
        if kept:
            columns = ", ".join(kept)
            values = ", ".join(f"NEW.{c}" for c in kept)
            sets = ",\n        ".join(
                f"{c} = {_if_changed(c, f's.{c}', f'EXCLUDED.{c}', also_on_insert=True)}"
                for c in kept
            )
            state = (
                f"    INSERT INTO {self.state_table} AS s (model_id, {columns})\n"
                f"    VALUES (NEW.id, {values})\n"
                f"    ON CONFLICT (model_id) DO UPDATE SET\n"
                f"        {sets},\n        updated_at = now();\n"
            )
            cleanup = f"        DELETE FROM {self.state_table} WHERE model_id = OLD.id;\n"
            if "replacement_model_id" in kept:
                # The reference platform's ON DELETE SET NULL, for state the worker keeps.
                cleanup += (
                    f"        UPDATE {self.state_table} SET replacement_model_id = NULL\n"
                    f"        WHERE replacement_model_id = OLD.id;\n"
                )
        return f"""CREATE OR REPLACE FUNCTION {q(self.worker_schema)}.{WRITE_FUNCTION}()
RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM {self.host_table} WHERE {model_id} = OLD.id;
{cleanup}        RETURN OLD;
    END IF;
{self._joined_checks()}    IF TG_OP = 'INSERT' THEN
        INSERT INTO {self.host_table} ({insert_columns})
        VALUES ({insert_values})
        RETURNING {model_id} INTO NEW.id;
    ELSE
        UPDATE {self.host_table} AS h SET
            {updates}
        WHERE h.{model_id} = OLD.id;
    END IF;
{state}    RETURN NEW;
END
$body$"""

    def statements(self) -> list[str]:
        """Everything ``db upgrade`` runs, in order, in one transaction."""
        out = [
            self.view_sql(),
            f"DROP TRIGGER IF EXISTS {WRITE_FUNCTION} ON {self.view}",
            f"DROP FUNCTION IF EXISTS {q(self.worker_schema)}.{WRITE_FUNCTION}()",
        ]
        if not self.is_plain():
            out += [
                self.write_function_sql(),
                f"CREATE TRIGGER {WRITE_FUNCTION} INSTEAD OF INSERT OR UPDATE OR DELETE "
                f"ON {self.view} FOR EACH ROW EXECUTE FUNCTION "
                f"{q(self.worker_schema)}.{WRITE_FUNCTION}()",
            ]
        out.append(f"COMMENT ON VIEW {self.view} IS '{self.fingerprint()}'")
        return out

    def fingerprint(self) -> str:
        """Names the view's definition; a worker compares it with the mapping it loads."""
        body = "\n".join(self._definition())
        return "lifecycle models view " + hashlib.sha256(body.encode()).hexdigest()[:16]

    def _definition(self) -> list[str]:
        out = [self.view_sql()]
        if not self.is_plain():
            out.append(self.write_function_sql())
        return out

    def script(self) -> str:
        """The statements as one reviewable SQL text (golden files, docs)."""
        return ";\n\n".join(self.statements()) + ";\n"
