"""``lifecycle db upgrade``."""

from __future__ import annotations

import argparse

from db.migrate import head_revision, upgrade
from worker.cli.output import EXIT_OK, print_json
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
    )
    up.set_defaults(handler=cmd_upgrade)


def cmd_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    url = settings.database_url.get_secret_value()
    upgrade(url, layout=settings.layout)
    head = head_revision()
    if args.json:
        print_json({"upgraded": True, "revision": head, "database": redact_url(url)})
    else:
        print(f"database {redact_url(url)} is at revision {head}")
    return EXIT_OK
