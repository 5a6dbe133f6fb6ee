"""The privileges a worker's role needs, and whether the current role holds them.

``lifecycle platform grants`` prints them as ``GRANT`` statements; ``lifecycle platform
check`` (and a worker at start) asks PostgreSQL whether the connected role holds each one
(``has_table_privilege``, ``has_column_privilege`` and their kin) and names what is
missing. Both read the same list, built from:

- the mapping: the model table (``SELECT, INSERT, UPDATE, DELETE``, columns listed), the
  tables of joined columns, teams, parent tables a team or level is read through, live
  references (``SELECT`` on the columns read, ``UPDATE`` on those moved; link tables
  ``INSERT, DELETE``) and history (``SELECT``);
- the recipients query: every relation and column it reads, as PostgreSQL resolves them
  (the dependencies of a temporary view over the query, rolled back: never run);
- the worker's own schema: its tables, its ``models`` view, sequences and functions.

Identifiers come from the validated mapping and PostgreSQL's catalog; they are quoted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.platform.mapping import PlatformMapping, ReferenceEntry, TeamThrough, bind_recipients
from db.platform.model_view import q

# Table-level privileges (no column list): DELETE cannot be granted per column.
WHOLE_TABLE = ("DELETE",)
VERSION_TABLE = "alembic_version"
_PROBE_VIEW = "lifecycle_recipients_probe"
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_TARGETS = {"schema": "SCHEMA", "table": "TABLE", "sequence": "SEQUENCE", "function": "FUNCTION"}
_ORDER = ("USAGE", "SELECT", "INSERT", "UPDATE", "DELETE", "EXECUTE")

# The relations and columns a view's rewrite rule depends on (the probe's: the query's).
_DEPENDENCIES_SQL = """
SELECT n.nspname AS schema_name, c.relname AS table_name, a.attname AS column_name
FROM pg_depend d
JOIN pg_rewrite r ON r.oid = d.objid AND d.classid = 'pg_rewrite'::regclass
JOIN pg_class c ON c.oid = d.refobjid AND d.refclassid = 'pg_class'::regclass
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
    AND d.refobjsubid > 0
WHERE r.ev_class = to_regclass('pg_temp.{view}') AND d.refobjid <> r.ev_class
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""
# The worker schema's owner, relations, sequences and functions.
_WORKER_OBJECTS_SQL = """
SELECT 'relation' AS kind, c.relname AS name, c.relkind::text AS detail
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'v', 'S')
UNION ALL
SELECT 'function', p.proname, pg_get_function_identity_arguments(p.oid)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = :schema
UNION ALL
SELECT 'owner', pg_get_userbyid(n.nspowner), '' FROM pg_namespace n WHERE n.nspname = :schema
"""
# One row per privilege to test; objects that do not exist test as NULL (the check
# reports a missing table itself).
_HOLDS_SQL = """
SELECT k.n,
  CASE k.kind
    WHEN 'schema' THEN CASE WHEN EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = k.obj)
        THEN has_schema_privilege(k.obj, k.priv) END
    WHEN 'function' THEN CASE WHEN to_regprocedure(k.obj) IS NOT NULL
        THEN has_function_privilege(k.obj, k.priv) END
    WHEN 'sequence' THEN CASE WHEN to_regclass(k.obj) IS NOT NULL
        THEN has_sequence_privilege(k.obj, k.priv) END
    ELSE CASE WHEN to_regclass(k.obj) IS NULL THEN NULL
        WHEN k.col = '' THEN has_table_privilege(k.obj, k.priv)
        WHEN EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = to_regclass(k.obj)
                     AND a.attname = k.col AND NOT a.attisdropped)
        THEN has_column_privilege(k.obj, k.col, k.priv) END
  END AS held
FROM unnest(CAST(:kinds AS text[]), CAST(:objs AS text[]), CAST(:privs AS text[]),
            CAST(:cols AS text[])) WITH ORDINALITY AS k(kind, obj, priv, col, n)
"""


class BadRoleName(ValueError):
    """A role name that is not a plain lower-case SQL identifier."""


def check_role_name(role: str) -> str:
    if not _ROLE.match(role):
        raise BadRoleName(
            f"invalid role name {role!r}: use lower-case letters, digits and _ "
            "(at most 63, not starting with a digit)"
        )
    return role


@dataclass
class Relation:
    """What a role needs on one table or view: privilege → columns (empty: the table)."""

    schema: str
    name: str
    kind: str = "table"  # or "sequence"
    privileges: dict[str, set[str]] = field(default_factory=dict)
    uses: list[str] = field(default_factory=list)

    @property
    def qualified(self) -> str:
        return f"{q(self.schema)}.{q(self.name)}"

    def need(self, privilege: str, columns: Iterable[str | None] = (), use: str = "") -> None:
        wanted = self.privileges.setdefault(privilege, set())
        if privilege not in WHOLE_TABLE and self.kind == "table":
            wanted.update(c for c in columns if c)
        if use and use not in self.uses:
            self.uses.append(use)

    def clauses(self) -> list[str]:
        """The privilege lists of this relation's GRANTs: one per privilege that lists
        columns, one for those on the whole relation (``SELECT, INSERT``)."""
        whole = {p: c for p, c in self.privileges.items() if not c}
        listed = [privilege_list({p: c}) for p, c in self.privileges.items() if c]
        listed.sort(key=lambda clause: _ORDER.index(clause.split(" ")[0]))
        return ([privilege_list(whole)] if whole else []) + listed


def privilege_list(privileges: dict[str, set[str]]) -> str:
    """``SELECT ("a", "b"), DELETE`` (an empty column set: the whole object)."""
    parts = []
    for privilege in sorted(privileges, key=_ORDER.index):
        columns = privileges[privilege]
        listed = f" ({', '.join(q(c) for c in sorted(columns))})" if columns else ""
        parts.append(privilege + listed)
    return ", ".join(parts)


@dataclass
class Privileges:
    """Everything one deployment's worker role needs."""

    worker_schema: str
    worker_owner: str | None = None
    schemas: set[str] = field(default_factory=set)
    relations: dict[tuple[str, str], Relation] = field(default_factory=dict)
    functions: list[str] = field(default_factory=list)
    # Why the recipients query's relations could not be read (None: they were).
    recipients_error: str | None = None

    def relation(self, schema: str, name: str, kind: str = "table") -> Relation:
        self.schemas.add(schema)
        key = (schema, name)
        if key not in self.relations:
            self.relations[key] = Relation(schema, name, kind)
        return self.relations[key]

    def tests(self) -> list[tuple[str, str, str, str]]:
        """``(kind, object, privilege, column)`` per privilege to test ('' column: whole)."""
        out = [("schema", s, "USAGE", "") for s in sorted(self.schemas)]
        for rel in self.relations.values():
            for privilege, columns in rel.privileges.items():
                if rel.kind == "sequence" or not columns:
                    out.append((rel.kind, rel.qualified, privilege, ""))
                else:
                    out += [("table", rel.qualified, privilege, c) for c in sorted(columns)]
        out += [("function", f, "EXECUTE", "") for f in self.functions]
        return out


def host_privileges(mapping: PlatformMapping, privileges: Privileges) -> None:
    """What the mapping's jobs read and write of the host's tables."""
    schema = mapping.host_schema
    models = mapping.models
    table = privileges.relation(schema, models.table)
    mapped = list(models.columns().values())
    use = "models (read and written through the worker's models view)"
    table.need("SELECT", mapped, use)
    written = [c for c in mapped if c != models.id]
    table.need("INSERT", written)
    table.need("UPDATE", written)
    table.need("DELETE")
    for place in models.joined().values():
        privileges.relation(schema, place.table).need(
            "SELECT", [place.key, place.column], "a model column one foreign key away"
        )
    teams = mapping.teams
    privileges.relation(schema, teams.table).need(
        "SELECT", [teams.id, teams.slug, teams.name], "the teams"
    )
    for ref in mapping.references:
        _reference_privileges(schema, ref, privileges)


def _reference_privileges(schema: str, ref: ReferenceEntry, privileges: Privileges) -> None:
    use = f"reference {ref.label} ({ref.role})"
    table = privileges.relation(schema, ref.table)
    moved = [ref.column, *(p.column for p in (ref.json_, ref.json_copy) if p is not None)]
    carried = [*ref.reset, *([ref.parameters.column] if ref.parameters else [])]
    read = [ref.key, *moved, ref.soft_delete, ref.archived, ref.created_at, *carried]
    if isinstance(ref.team, str):
        read.append(ref.team)
    elif isinstance(ref.team, TeamThrough):
        read.append(ref.team.via)
        parent = [ref.team.key, ref.team.column, ref.team.min_security_level]
        privileges.relation(schema, ref.team.table).need(
            "SELECT", parent, f"reference {ref.label}: its rows' team"
        )
    table.need("SELECT", read, use)
    if ref.role != "live":
        return
    if ref.link:
        table.need("INSERT", [ref.key, ref.column])
        table.need("DELETE")
        if ref.soft_delete or ref.archived:
            table.need("UPDATE", [ref.column])  # cleanup repoints rows that are not live
    else:
        table.need("UPDATE", [*moved, *carried])


async def recipient_relations(conn: AsyncConnection, query: str) -> dict[tuple[str, str], set[str]]:
    """``{(schema, relation): columns}`` the recipients query reads, as PostgreSQL resolves
    it: a temporary view over the query (its parameters as typed NULLs) is created and its
    dependencies read, in a savepoint that is rolled back. The query is never run."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    savepoint = await conn.begin_nested()
    try:
        statement = await driver.prepare(bind_recipients(query, "$1", "$2"))
        types = [
            await driver.fetchval("SELECT format_type($1, NULL)", p.oid)
            for p in statement.get_parameters()
        ]
        typed = bind_recipients(query, f"CAST(NULL AS {types[0]})", f"CAST(NULL AS {types[-1]})")
        # Prepared, so that the text is one statement whatever it holds.
        probe = await driver.prepare(
            f"CREATE TEMPORARY VIEW {_PROBE_VIEW} AS {typed.strip().rstrip(';')}"
        )
        await probe.fetch()
        rows = await driver.fetch(_DEPENDENCIES_SQL.format(view=_PROBE_VIEW))
    finally:
        await savepoint.rollback()
    found: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        columns = found.setdefault((row["schema_name"], row["table_name"]), set())
        if row["column_name"]:
            columns.add(row["column_name"])
    return found


async def worker_privileges(conn: AsyncConnection, privileges: Privileges) -> None:
    """The worker's own schema: its tables, the models view, sequences and functions."""
    schema = privileges.worker_schema
    privileges.schemas.add(schema)
    rows = await conn.execute(text(_WORKER_OBJECTS_SQL), {"schema": schema})
    for kind, name, detail in rows:
        if kind == "owner":
            privileges.worker_owner = name
        elif kind == "function":
            privileges.functions.append(f"{q(schema)}.{q(name)}({detail})")
        elif detail == "S":
            privileges.relation(schema, name, "sequence").need("USAGE")
            privileges.relation(schema, name, "sequence").need("SELECT")
        else:
            relation = privileges.relation(schema, name)
            relation.need("SELECT", use="the worker's own")
            if name != VERSION_TABLE:
                for privilege in ("INSERT", "UPDATE", "DELETE"):
                    relation.need(privilege)


async def required_privileges(
    conn: AsyncConnection, mapping: PlatformMapping, worker_schema: str
) -> Privileges:
    """Everything the worker's role needs on the database behind ``conn`` (when the
    recipients query cannot be resolved, ``recipients_error`` says why)."""
    privileges = Privileges(worker_schema)
    await worker_privileges(conn, privileges)
    host_privileges(mapping, privileges)
    try:
        read = await recipient_relations(conn, mapping.recipients.sql())
    except Exception as exc:
        privileges.recipients_error = str(exc).splitlines()[0] if str(exc) else repr(exc)
        return privileges
    for (schema, name), columns in sorted(read.items()):
        privileges.relation(schema, name).need("SELECT", columns, "the recipients query")
    return privileges


def render_grants(privileges: Privileges, role: str, *, header: str) -> str:
    """The GRANT statements, with ``--`` comments, ready for ``psql -f -``."""
    grantee = q(check_role_name(role))
    lines = [f"-- {line}" for line in header.splitlines()]
    lines += [
        f"-- The role must exist first, e.g.: CREATE ROLE {grantee} LOGIN PASSWORD '...';",
        "-- Run as the owner of these objects (or a superuser), e.g. | psql -f -",
    ]
    worker = privileges.worker_schema
    for schema in [worker, *sorted(s for s in privileges.schemas if s != worker)]:
        relations = [r for (s, _), r in sorted(privileges.relations.items()) if s == schema]
        if schema == worker:
            lines += ["", f"-- the worker's own schema {schema}"]
        else:
            lines += ["", f"-- schema {schema}"]
        lines.append(f"GRANT USAGE ON SCHEMA {q(schema)} TO {grantee};")
        for rel in relations:
            if rel.uses and schema != worker:
                lines.append(f"-- {rel.name}: {'; '.join(rel.uses)}")
            target = "SEQUENCE" if rel.kind == "sequence" else "TABLE"
            lines += [
                f"GRANT {clause} ON {target} {rel.qualified} TO {grantee};"
                for clause in rel.clauses()
            ]
        if schema == worker:
            lines += [f"GRANT EXECUTE ON FUNCTION {f} TO {grantee};" for f in privileges.functions]
            lines += _default_privileges(privileges, grantee)
    return "\n".join(lines) + "\n"


def _default_privileges(privileges: Privileges, grantee: str) -> list[str]:
    """Rights on what a later ``db upgrade`` creates (run by the schema's owner)."""
    owner = privileges.worker_owner
    if owner is None:
        return [f"-- schema {privileges.worker_schema} does not exist yet: run `db upgrade`"]
    prefix = f"ALTER DEFAULT PRIVILEGES FOR ROLE {q(owner)} IN SCHEMA {q(privileges.worker_schema)}"
    return [
        f"-- what a later `lifecycle db upgrade` creates (run by {owner}, the schema's owner)",
        f"{prefix} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {grantee};",
        f"{prefix} GRANT USAGE, SELECT ON SEQUENCES TO {grantee};",
        f"{prefix} GRANT EXECUTE ON FUNCTIONS TO {grantee};",
    ]


@dataclass(frozen=True)
class Missing:
    """Privileges the connected role lacks on one object, as the GRANT that gives them."""

    what: str
    grant: str


async def missing_privileges(conn: AsyncConnection, privileges: Privileges) -> list[Missing]:
    """What the connected role lacks of ``privileges`` (objects that do not exist are
    left to the rest of the check)."""
    tests = privileges.tests()
    if not tests:
        return []
    rows = await conn.execute(
        text(_HOLDS_SQL),
        {
            "kinds": [t[0] for t in tests],
            "objs": [t[1] for t in tests],
            "privs": [t[2] for t in tests],
            "cols": [t[3] for t in tests],
        },
    )
    lacking: dict[tuple[str, str], dict[str, set[str]]] = {}
    for n, held in rows:
        if held is False:
            kind, obj, privilege, column = tests[n - 1]
            columns = lacking.setdefault((kind, obj), {}).setdefault(privilege, set())
            if column:
                columns.add(column)
    role = str(await conn.scalar(text("SELECT current_user")))
    out = []
    for (kind, obj), missing in lacking.items():
        clause = privilege_list(missing)
        on = f"{_TARGETS[kind]} {q(obj) if kind == 'schema' else obj}"
        out.append(
            Missing(f"role {role} lacks {clause} on {on}", f"GRANT {clause} ON {on} TO {q(role)};")
        )
    return out
