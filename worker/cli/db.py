"""``lifecycle db upgrade``."""

from __future__ import annotations

import argparse
import asyncio

from db.migrate import head_revision, upgrade
from db.schema_layout import Layout
from worker.cli.output import EXIT_OK, CommandFailed, print_json
from worker.platform import configured_mapping, layout_from_report, run_platform_check
from worker.settings import Settings, redact_url


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    db = sub.add_parser("db", help="database schema commands")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    up = db_sub.add_parser(
        "upgrade",
        parents=[common],
        help="apply Alembic migrations up to head (safe to run on every deploy)",
        description="Apply the worker's migrations up to head; safe to run on every deploy. "
        "With no platform mapping it also builds the reference platform's tables. With "
        "LIFECYCLE_PLATFORM_FILE set it first checks the mapping against the database, then "
        "creates and migrates only the worker's own schema (LIFECYCLE_SCHEMA): no host table "
        "is created, altered or dropped.",
    )
    up.set_defaults(handler=cmd_upgrade)


def cmd_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    url = settings.database_url.get_secret_value()
    layout = _layout(settings)
    upgrade(url, layout=layout, mapping=configured_mapping(settings))
    head = head_revision()
    if args.json:
        print_json(
            {
                "upgraded": True,
                "revision": head,
                "database": redact_url(url),
                "schema": layout.worker_schema,
                "reference_platform": layout.reference_platform,
            }
        )
    else:
        built = "" if layout.reference_platform else " (worker's schema only)"
        print(
            f"database {redact_url(url)}: schema {layout.worker_schema} is at revision "
            f"{head}{built}"
        )
    return EXIT_OK


def _layout(settings: Settings) -> Layout:
    """The reference platform's layout, or a mapped host's once its mapping checks out."""
    if settings.platform_file is None:
        return settings.layout
    report = asyncio.run(run_platform_check(settings))  # an invalid file: exit 2 (main)
    if not report.ok:
        problems = "; ".join(f"{f.subject}: {f.message}" for f in report.errors)
        raise CommandFailed(
            f"platform mapping {report.source} does not match the database "
            f"(see `lifecycle platform check`): {problems}",
            {"errors": [vars(f) for f in report.errors]},
        )
    return layout_from_report(settings, report)
