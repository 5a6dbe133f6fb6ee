"""``lifecycle platform check`` and ``lifecycle platform grants``."""

from __future__ import annotations

import argparse
import asyncio

from db.platform.check import PlatformReport, iter_messages
from db.platform.privileges import BadRoleName, check_role_name
from worker.cli.output import EXIT_FAILED, EXIT_OK, CommandFailed, UsageError, print_json
from worker.platform import GrantsUnavailable, run_platform_check, run_platform_grants
from worker.settings import Settings, redact_url

DEFAULT_ROLE = "lifecycle_worker"


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "platform",
        help="the host platform mapping (LIFECYCLE_PLATFORM_FILE)",
        description="Commands about the host platform mapping (LIFECYCLE_PLATFORM_FILE; "
        "unset: the built-in reference platform).",
    )
    p_sub = p.add_subparsers(dest="platform_command", required=True, metavar="COMMAND")
    check = p_sub.add_parser(
        "check",
        parents=[common],
        help="hold the mapping against the live database (exit 1 on an error)",
        description="Hold the platform mapping against the live database: tables, columns, "
        "key types, foreign keys (ON DELETE rule, deferrability), indexes on reference "
        "columns (with the CREATE INDEX to run), the recipients query's columns (prepared, "
        "never run), the privileges the connected role lacks of those `platform grants` "
        "prints (each with the GRANT to run) and rows per reference. Exit 0 when clean or "
        "with warnings only, 1 on an error, 2 when the mapping file itself is invalid "
        "(every problem listed).",
    )
    check.set_defaults(handler=cmd_check)
    grants = p_sub.add_parser(
        "grants",
        parents=[common],
        help="print the GRANT statements the worker's role needs (SQL for psql -f -)",
        description="Print the GRANT statements a role running the worker needs for this "
        "mapping, and nothing more: its own schema (tables, the models view, sequences, "
        "functions, and default privileges for what a later `db upgrade` creates), SELECT "
        "on the model's, teams' and history tables and on every relation and column the "
        "recipients query reads (resolved by PostgreSQL, never run), SELECT and UPDATE on "
        "live reference tables (INSERT and DELETE on link tables), SELECT, INSERT, UPDATE "
        "and DELETE on the model table; columns listed wherever a column list serves. Run "
        "it as the schema's owner (or a superuser): it reads the worker's schema.",
    )
    grants.add_argument(
        "--role",
        default=DEFAULT_ROLE,
        metavar="NAME",
        help=f"the role to grant to (default {DEFAULT_ROLE})",
    )
    grants.set_defaults(handler=cmd_grants)


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    report = asyncio.run(run_platform_check(settings, count_rows=True, privileges=True))
    if args.json:
        print_json(report.as_dict())
    else:
        print(render_report(report, redact_url(settings.database_url.get_secret_value())))
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_grants(args: argparse.Namespace, settings: Settings) -> int:
    try:
        role = check_role_name(args.role)
    except BadRoleName as exc:
        raise UsageError(str(exc)) from None
    try:
        sql = asyncio.run(run_platform_grants(settings, role))
    except GrantsUnavailable as exc:
        raise CommandFailed(str(exc)) from None
    if args.json:
        print_json({"role": role, "sql": sql})
    else:
        print(sql, end="")
    return EXIT_OK


def render_report(report: PlatformReport, database: str) -> str:
    """The report for a person: one line per finding, then the totals."""
    lines = [
        f"platform {report.platform} ({report.source}), schema {report.schema} on {database}",
        *iter_messages(report),
    ]
    if report.key_types:
        keys = ", ".join(f"{k} {v}" for k, v in sorted(report.key_types.items()))
        lines.append(f"keys: {keys}")
    verdict = "clean" if report.ok and not report.warnings else ("ok" if report.ok else "FAILED")
    lines.append(f"{verdict}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    return "\n".join(lines)
