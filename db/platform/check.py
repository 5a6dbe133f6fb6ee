"""Hold a platform mapping against the live database (``lifecycle platform check``).

Reads PostgreSQL's catalog (columns, foreign keys, indexes) in three statements, prepares
the recipients query without running it, and optionally counts rows per reference. Every
finding names the mapping entry and the table or column it concerns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.platform.check_writes import (
    check_constants,
    check_joined_values,
    check_link_columns,
    check_model_writes,
)
from db.platform.mapping import (
    Joined,
    JsonPlace,
    Models,
    PlatformMapping,
    ReferenceEntry,
    TeamThrough,
)
from db.platform.privileges import missing_privileges, required_privileges
from db.platform.recipients_check import KEY_TYPES, TEXT_TYPES, check_recipients

Level = Literal["ok", "info", "warning", "error"]

_TEXT = TEXT_TYPES
_INTEGER = {"int2", "int4", "int8"}
_TIME = {"timestamptz", "timestamp", "date"}
_ON_DELETE = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}

# ``required``: a column an INSERT must give a value (NOT NULL, no default, no identity,
# not generated) of a table (views and their columns are never required).
_COLUMNS_SQL = """
SELECT c.relname AS table_name, a.attname AS column_name, t.typname AS type_name,
       a.attnotnull AS not_null,
       a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = ''
         AND c.relkind IN ('r', 'p', 'f') AS required,
       c.relkind IN ('v', 'm') AS is_view
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND a.attnum > 0 AND NOT a.attisdropped
"""
# Single-column foreign keys of the schema's tables.
_FOREIGN_KEYS_SQL = """
SELECT src.relname AS table_name, sa.attname AS column_name,
       dst.relname AS ref_table, da.attname AS ref_column,
       k.confdeltype::text AS on_delete, k.condeferrable AS deferrable, k.condeferred AS deferred
FROM pg_constraint k
JOIN pg_class src ON src.oid = k.conrelid
JOIN pg_namespace n ON n.oid = src.relnamespace
JOIN pg_class dst ON dst.oid = k.confrelid
JOIN pg_attribute sa ON sa.attrelid = k.conrelid AND sa.attnum = k.conkey[1]
JOIN pg_attribute da ON da.attrelid = k.confrelid AND da.attnum = k.confkey[1]
WHERE k.contype = 'f' AND n.nspname = :schema AND cardinality(k.conkey) = 1
"""
# The leading column and access method of every index of the schema's tables.
_INDEXES_SQL = """
SELECT t.relname AS table_name, a.attname AS column_name, am.amname AS method
FROM pg_index i
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0]
WHERE n.nspname = :schema
"""
# Expression indexes (their leading key is no plain column), with their definitions.
_EXPRESSION_INDEXES_SQL = """
SELECT t.relname AS table_name, am.amname AS method,
       pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
WHERE n.nspname = :schema AND i.indkey[0] = 0
"""


@dataclass(frozen=True)
class Finding:
    level: Level
    subject: str
    message: str
    fix: str | None = None


@dataclass(frozen=True)
class ForeignKey:
    ref_table: str
    ref_column: str
    on_delete: str
    deferrable: bool
    deferred: bool

    def describe(self) -> str:
        timing = ""
        if self.deferrable:
            timing = " DEFERRABLE INITIALLY " + ("DEFERRED" if self.deferred else "IMMEDIATE")
        return f"FK → {self.ref_table}.{self.ref_column} ON DELETE {self.on_delete}{timing}"


@dataclass
class Catalog:
    """What the check reads of one schema."""

    schema: str
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    not_null: dict[str, set[str]] = field(default_factory=dict)
    required: dict[str, set[str]] = field(default_factory=dict)
    foreign_keys: dict[tuple[str, str], ForeignKey] = field(default_factory=dict)
    views: set[str] = field(default_factory=set)
    indexes: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    expression_indexes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def has_canonical_json_index(self, table: str, column: str) -> bool:
        """A GIN index on the lower-cased document, the expression JSON lookups use."""
        canonical = f"lower(({column})::text)"
        return any(
            method == "gin" and canonical in definition
            for method, definition in self.expression_indexes.get(table, [])
        )

    def type_of(self, table: str, column: str) -> str | None:
        return self.columns.get(table, {}).get(column)


@dataclass
class PlatformReport:
    """The outcome of one check; ``ok`` when no finding is an error."""

    platform: str
    source: str
    schema: str
    findings: list[Finding] = field(default_factory=list)
    key_types: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    kept_by_worker: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "source": self.source,
            "schema": self.schema,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "key_types": self.key_types,
            "rows": self.rows,
            "kept_by_worker": self.kept_by_worker,
            "findings": [
                {k: v for k, v in vars(f).items() if v is not None} for f in self.findings
            ],
        }


async def read_catalog(conn: AsyncConnection, schema: str) -> Catalog:
    """Columns, single-column foreign keys and index leading columns of ``schema``."""
    catalog = Catalog(schema)
    for row in await conn.execute(text(_COLUMNS_SQL), {"schema": schema}):
        catalog.columns.setdefault(row.table_name, {})[row.column_name] = row.type_name
        if row.not_null:
            catalog.not_null.setdefault(row.table_name, set()).add(row.column_name)
        if row.required:
            catalog.required.setdefault(row.table_name, set()).add(row.column_name)
        if row.is_view:
            catalog.views.add(row.table_name)
    for row in await conn.execute(text(_FOREIGN_KEYS_SQL), {"schema": schema}):
        catalog.foreign_keys[(row.table_name, row.column_name)] = ForeignKey(
            row.ref_table,
            row.ref_column,
            _ON_DELETE.get(row.on_delete, row.on_delete),
            bool(row.deferrable),
            bool(row.deferred),
        )
    for table, column, method in await conn.execute(text(_INDEXES_SQL), {"schema": schema}):
        catalog.indexes.setdefault((table, column), set()).add(method)
    rows = await conn.execute(text(_EXPRESSION_INDEXES_SQL), {"schema": schema})
    for table, method, definition in rows:
        catalog.expression_indexes.setdefault(table, []).append((method, definition))
    return catalog


class _Checker:
    """Collects findings for one mapping against one catalog."""

    def __init__(self, mapping: PlatformMapping, catalog: Catalog, report: PlatformReport):
        self.mapping = mapping
        self.catalog = catalog
        self.report = report

    def add(self, level: Level, subject: str, message: str, fix: str | None = None) -> None:
        self.report.findings.append(Finding(level, subject, message, fix))

    def table(self, subject: str, table: str) -> bool:
        if table in self.catalog.columns:
            return True
        self.add("error", subject, f"table {self.catalog.schema}.{table} does not exist")
        return False

    def column(
        self, subject: str, table: str, column: str, kinds: set[str] | None, what: str = ""
    ) -> str | None:
        """The column's type if it exists (and is of one of ``kinds``); else an error."""
        found = self.catalog.type_of(table, column)
        if found is None:
            self.add("error", subject, f"column {table}.{column} does not exist")
            return None
        if kinds is not None and found not in kinds:
            want = what or " or ".join(sorted(kinds))
            self.add("error", subject, f"column {table}.{column} is {found}, expected {want}")
            return None
        return found

    def key(self, subject: str, table: str, column: str) -> str | None:
        found = self.column(subject, table, column, set(KEY_TYPES), "uuid, bigint or integer")
        return KEY_TYPES[found] if found else None

    def same_key(self, subject: str, table: str, column: str, of: str) -> None:
        want = self.report.key_types.get(of)
        found = self.column(subject, table, column, None)
        if want and found and KEY_TYPES.get(found) != want:
            self.add("error", subject, f"column {table}.{column} is {found}, {of} ids are {want}")


def _index_fix(schema: str, table: str, column: str, gin: bool = False) -> str:
    if gin:
        # The canonical (lower-cased) document that JSON id lookups compare with.
        name = f"ix_{table}_{column}_lower_path_ops"[:63]
        using = f" USING gin ((CAST(lower(CAST({column} AS text)) AS jsonb)) jsonb_path_ops)"
    else:
        name = f"ix_{table}_{column}"[:63]
        using = f" ({column})"
    return f"CREATE INDEX CONCURRENTLY {name} ON {schema}.{table}{using};"


def _check_models(c: _Checker) -> None:
    models = c.mapping.models
    subject = "models"
    if not c.table(subject, models.table):
        return
    key = c.key(subject, models.table, models.id)
    if key:
        c.report.key_types["model"] = key
    kinds: dict[str, set[str] | None] = {
        "provider": _TEXT,
        "name": _TEXT,
        "token_limit": _INTEGER,
        "display_name": _TEXT,
        "litellm_model": _TEXT,
        "vision": {"bool"},
        "tools": {"bool"},
        "reasoning": {"bool"},
        "security_level": _INTEGER,
        "created_at": _TIME,
        "updated_at": _TIME,
        "state.deprecated": {"bool"},
        "state.deprecation_date": {"date"},
        "state.deprecation_source": _TEXT,
        "state.deleted_at": _TIME,
    }
    joined = models.joined()
    for name, column in models.columns().items():
        if name in ("id", "team") or name in joined:
            continue
        if name in ("state.replacement", "state.migrated_to"):
            c.same_key(f"{subject}.{name}", models.table, column, "model")
        else:
            c.column(f"{subject}.{name}", models.table, column, kinds.get(name))
    for name, place in joined.items():
        _check_joined(c, f"{subject}.{name}", models.table, place, kinds.get(name))


def _check_joined(
    c: _Checker, subject: str, table: str, place: Joined, kinds: set[str] | None
) -> None:
    if c.column(subject, table, place.via, set(KEY_TYPES)) is None:
        return
    if not c.table(subject, place.table):
        return
    c.column(subject, place.table, place.key, set(KEY_TYPES))
    c.column(subject, place.table, place.column, kinds)
    for column in place.filter:
        c.column(f"{subject}.filter", place.table, column, None)
    _check_foreign_key(c, subject, table, place.via, place.table, place.key)


def _check_foreign_key(
    c: _Checker, subject: str, table: str, via: str, parent: str, key: str
) -> None:
    """A join the worker follows (``table.via → parent.key``) is a foreign key: without
    one, nothing keeps the rows it joins in step."""
    fk = c.catalog.foreign_keys.get((table, via))
    if fk is not None and fk.ref_table == parent and fk.ref_column != key:
        c.add(
            "error",
            subject,
            f"{table}.{via} references {parent}.{fk.ref_column} but the mapping joins "
            f'{parent} on {key}: set key = "{fk.ref_column}"',
        )
    elif parent in c.catalog.views:
        # A view (a parent two keys away, say) cannot be the target of a foreign key: what
        # keeps the join in step is the host's own keys under it, which the check cannot see.
        c.add(
            "warning",
            subject,
            f"{parent} is a view, so no foreign key can hold {table}.{via} → {parent}.{key}: "
            f"a {via} naming no row of the view leaves its row without a team (moved, never "
            "notified)",
        )
    elif fk is None or (fk.ref_table, fk.ref_column) != (parent, key):
        c.add("error", subject, f"no foreign key {table}.{via} → {parent}.{key}")


def _check_teams(c: _Checker) -> None:
    teams = c.mapping.teams
    models = c.mapping.models
    if c.table("teams", teams.table):
        key = c.key("teams", teams.table, teams.id)
        if key:
            c.report.key_types["team"] = key
        if teams.slug:
            c.column("teams.slug", teams.table, teams.slug, _TEXT)
        c.column("teams.name", teams.table, teams.name, _TEXT)
    if models.team and models.table in c.catalog.columns:
        c.same_key("models.team", models.table, models.team, "team")


async def _check_recipients(c: _Checker, conn: AsyncConnection) -> None:
    """Prepare and plan (never run) the recipients query: one ``ok`` line, or its errors."""
    verdict = await check_recipients(
        conn, c.mapping.recipients.sql(), c.report.key_types.get("team")
    )
    for error in verdict.errors:
        c.add("error", "recipients", error)
    if verdict.user_key is not None:
        c.report.key_types["user"] = verdict.user_key
    if verdict.ok is not None:
        c.add("ok", "recipients", verdict.ok)


async def _check_reference(c: _Checker, conn: AsyncConnection, ref: ReferenceEntry) -> None:
    subject = f"reference {ref.label}"
    if not c.table(subject, ref.table):
        return
    before = len(c.report.errors)
    if ref.column is not None:
        c.same_key(subject, ref.table, ref.column, "model")
    if ref.json_ is not None:
        _check_json(c, subject, ref.table, ref.json_)
    if ref.json_copy is not None:
        _check_json(c, f"{subject} (json_copy)", ref.table, ref.json_copy)
    if ref.link:
        c.column(subject, ref.table, ref.key, set(KEY_TYPES))
        check_link_columns(c, ref)
    else:
        c.key(subject, ref.table, ref.key)
    if isinstance(ref.team, str):
        c.same_key(subject, ref.table, ref.team, "team")
    elif isinstance(ref.team, TeamThrough):
        _check_team_through(c, subject, ref.table, ref.team)
    if ref.soft_delete:
        c.column(subject, ref.table, ref.soft_delete, _TIME, "a timestamp (soft delete)")
    if ref.archived:
        c.column(subject, ref.table, ref.archived, {"bool"}, "boolean (archived)")
    if ref.created_at:
        c.column(subject, ref.table, ref.created_at, _TIME, "a timestamp (created at)")
    for column in ref.reset:
        c.column(subject, ref.table, column, {"jsonb"}, "jsonb (reset to {})")
    if ref.parameters is not None:
        what = "translated" if ref.parameters.mode == "translate" else "reset to {}"
        c.column(subject, ref.table, ref.parameters.column, {"jsonb"}, f"jsonb (parameters {what})")
    await check_constants(c, conn, subject, ref.table, ref.insert)
    if len(c.report.errors) == before:
        _describe_reference(c, subject, ref)


def _check_json(c: _Checker, subject: str, table: str, place: JsonPlace) -> None:
    c.column(subject, table, place.column, {"jsonb"}, "jsonb (a JSON path needs jsonb)")
    if place.id_as == "number" and c.report.key_types.get("model") == "uuid":
        c.add(
            "error",
            subject,
            f"{table}.{place.column} -> {place.path}: ids written as JSON numbers need "
            'whole-number model keys, and models here are keyed by uuid (use id_as = "string")',
        )


def _check_team_through(c: _Checker, subject: str, table: str, team: TeamThrough) -> None:
    if c.column(subject, table, team.via, set(KEY_TYPES)) is None:
        return
    if not c.table(subject, team.table):
        return
    c.column(subject, team.table, team.key, set(KEY_TYPES))
    c.same_key(subject, team.table, team.column, "team")
    if team.min_security_level:
        c.column(subject, team.table, team.min_security_level, _INTEGER)
    _check_foreign_key(c, subject, table, team.via, team.table, team.key)


def _describe_reference(c: _Checker, subject: str, ref: ReferenceEntry) -> None:
    """The foreign key (rule, timing) and index behind a reference that checked out."""
    schema = c.catalog.schema
    if ref.json_ is not None:
        place = ref.json_
        if not c.catalog.has_canonical_json_index(ref.table, place.column):
            c.add(
                "warning",
                subject,
                f"no GIN index on lower({ref.table}.{place.column}::text)::jsonb, the "
                "expression id lookups compare: every lookup scans the table",
                _index_fix(schema, ref.table, place.column, gin=True),
            )
        c.add("ok", subject, f"{ref.place()} ({ref.role}, JSON ids as {place.id_as})")
        return
    assert ref.column is not None
    fk = c.catalog.foreign_keys.get((ref.table, ref.column))
    models = c.mapping.models.table
    if fk is not None and fk.ref_table != models:
        c.add("error", subject, f"{ref.place()} has a foreign key to {fk.ref_table}, not {models}")
        return
    if not c.catalog.indexes.get((ref.table, ref.column)):
        c.add(
            "warning",
            subject,
            f"no index leads with {ref.table}.{ref.column}: batches and counts scan the table",
            _index_fix(schema, ref.table, ref.column),
        )
    if fk is None:
        c.add("info", subject, f"{ref.place()} has no foreign key to {models}")
    detail = f"{ref.place()} ({ref.role}), " + (fk.describe() if fk else "no FK")
    c.add("ok", subject, detail)


async def _count_rows(
    conn: AsyncConnection, mapping: PlatformMapping, report: PlatformReport
) -> None:
    failed = {f.subject for f in report.errors}
    for ref in mapping.references:
        if f"reference {ref.label}" in failed:
            continue
        where = f"{ref.column} IS NOT NULL" if ref.column else f"{ref.json_.column} IS NOT NULL"  # type: ignore[union-attr]
        n = await conn.scalar(
            text(f'SELECT count(*) FROM "{report.schema}".{ref.table} WHERE {where}')
        )
        report.rows[ref.label] = int(n or 0)


def iter_messages(report: PlatformReport) -> Iterator[str]:
    """The report as text lines, errors first."""
    order = {"error": 0, "warning": 1, "info": 2, "ok": 3}
    for f in sorted(report.findings, key=lambda f: order[f.level]):
        rows = ""
        if f.level == "ok" and f.subject.startswith("reference "):
            label = f.subject.removeprefix("reference ")
            if label in report.rows:
                rows = f"; {report.rows[label]} row(s)"
        yield f"{f.level:<8}{f.subject}: {f.message}{rows}"
        if f.fix:
            yield f"{'':<8}  fix: {f.fix}"


def _describe_models(models: Models, report: PlatformReport) -> str:
    """The model table, the joins it is read through, and where lifecycle state is kept."""
    parts = [f"{models.table} (id {report.key_types.get('model', '?')})"]
    for name, place in models.joined().items():
        chosen = " AND ".join(f"{k} = {v!r}" for k, v in place.filter.items())
        parts.append(
            f"{name} = {place.table}.{place.column} joined on {models.table}.{place.via} "
            f"→ {place.table}.{place.key}" + (f" where {chosen}" if chosen else "")
        )
    kept = report.kept_by_worker
    parts.append(
        f"lifecycle state kept by the worker: {', '.join(kept)}"
        if kept
        else "lifecycle state in host columns"
    )
    return "; ".join(parts)


async def _check_privileges(c: _Checker, conn: AsyncConnection, worker_schema: str) -> None:
    """Whether the connected role holds every privilege ``platform grants`` prints."""
    needed = await required_privileges(conn, c.mapping, worker_schema)
    if needed.recipients_error and not any(f.subject == "recipients" for f in c.report.errors):
        c.add(
            "warning",
            "privileges",
            "the recipients query's relations could not be resolved "
            f"({needed.recipients_error}): its privileges are not checked",
        )
    missing = await missing_privileges(conn, needed)
    for gap in missing:
        c.add("error", "privileges", gap.what, gap.grant)
    if not missing:
        role = await conn.scalar(text("SELECT current_user"))
        held = len(needed.tests())
        c.add("ok", "privileges", f"role {role} holds all {held} privileges the worker needs")


async def check_platform(
    conn: AsyncConnection,
    mapping: PlatformMapping,
    *,
    source: str,
    count_rows: bool = False,
    privileges_in: str | None = None,
) -> PlatformReport:
    """Every finding of ``mapping`` against the database behind ``conn``; with
    ``privileges_in`` (the worker's schema), also the privileges the connected role lacks."""
    report = PlatformReport(mapping.name, source, mapping.host_schema)
    report.kept_by_worker = mapping.models.state.kept_by_worker()
    catalog = await read_catalog(conn, mapping.host_schema)
    if not catalog.columns:
        report.findings.append(
            Finding("error", "platform", f"schema {mapping.host_schema} has no tables")
        )
        return report
    checker = _Checker(mapping, catalog, report)
    _check_models(checker)
    if mapping.models.table in catalog.columns:
        check_model_writes(checker)
        await check_constants(
            checker, conn, "models.insert", mapping.models.table, mapping.models.insert
        )
        await check_joined_values(checker, conn, mapping.models)
    _check_teams(checker)
    if not any(f.subject.startswith("models") for f in report.errors):
        checker.add("ok", "models", _describe_models(mapping.models, report))
    if not any(f.subject.startswith("teams") for f in report.errors):
        checker.add(
            "ok", "teams", f"{mapping.teams.table} (id {report.key_types.get('team', '?')})"
        )
    await _check_recipients(checker, conn)
    for ref in mapping.references:
        await _check_reference(checker, conn, ref)
    if privileges_in is not None:
        await _check_privileges(checker, conn, privileges_in)
    if count_rows and not any(f.subject == "privileges" for f in report.errors):
        await _count_rows(conn, mapping, report)
    return report
