"""``lifecycle platform check``."""

from __future__ import annotations

import argparse
import asyncio

from db.platform.check import PlatformReport, iter_messages
from worker.cli.output import EXIT_FAILED, EXIT_OK, print_json
from worker.platform import run_platform_check
from worker.settings import Settings, redact_url


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
        "never run) and rows per reference. Exit 0 when clean or with warnings only, 1 on "
        "an error, 2 when the mapping file itself is invalid (every problem listed).",
    )
    check.set_defaults(handler=cmd_check)


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    report = asyncio.run(run_platform_check(settings, count_rows=True))
    if args.json:
        print_json(report.as_dict())
    else:
        print(render_report(report, redact_url(settings.database_url.get_secret_value())))
    return EXIT_OK if report.ok else EXIT_FAILED


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
