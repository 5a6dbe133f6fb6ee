"""``lifecycle demo``."""

from __future__ import annotations

import argparse
import asyncio
import re

from worker.cli.output import EXIT_OK, CommandFailed, print_json
from worker.demo import DEMO_DATABASE, NotForMappedHost, prepare_current_database, run_demo
from worker.settings import Settings


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "demo",
        parents=[common],
        help=f"seed a demo platform into database {DEMO_DATABASE!r} and run every lifecycle step",
        description=(
            f"Creates (or re-creates) the database {DEMO_DATABASE!r} on the configured "
            "PostgreSQL server, seeds teams, members, models and configuration, and drives "
            "catalog sync, enrichment, migrations, notifications and cleanup through a real "
            "worker on a queue of its own. The configured database is never touched. The demo "
            "is the built-in reference platform: LIFECYCLE_PLATFORM_FILE is not used for it, "
            "and --into-current-database refuses a mapped database."
        ),
    )
    p.add_argument(
        "--database",
        default=DEMO_DATABASE,
        type=_database_name,
        help=f"name of the demo database to (re)create (default {DEMO_DATABASE})",
    )
    p.add_argument(
        "--into-current-database",
        action="store_true",
        help=(
            "instead: seed the demo platform into the configured database (if not there yet) "
            "and queue a few jobs; meant for a throw-away embedded database (make run)"
        ),
    )
    p.set_defaults(handler=cmd_demo)


def _database_name(value: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a plain lower-case database name")
    return value


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    if args.into_current_database:
        try:
            queued = asyncio.run(prepare_current_database(settings))
        except NotForMappedHost as exc:
            raise CommandFailed(str(exc)) from exc
        message = f"demo data seeded, {queued} job(s) queued" if queued else "demo data present"
        if args.json:
            print_json({"queued": queued})
        else:
            print(message)
        return EXIT_OK
    write = (lambda _: None) if args.json else print
    results = asyncio.run(run_demo(settings, write=write, database=args.database))
    if args.json:
        print_json(results)
    return EXIT_OK
