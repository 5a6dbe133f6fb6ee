"""``lifecycle health``."""

from __future__ import annotations

import argparse
import asyncio

from worker.cli.output import EXIT_FAILED, EXIT_OK, print_json, table
from worker.health import DEADLINE_S, check_health
from worker.settings import Settings


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "health",
        parents=[common],
        help="check Redis, PostgreSQL, schema, worker heartbeat and queue (exit 1 if unhealthy)",
        description=(
            "Checks, in parallel under one deadline, Redis, PostgreSQL, that the schema is at "
            "the Alembic head, that a worker heartbeat is live on the queue, and the queue's "
            "depth; a service without an answer by the deadline is reported down. Prints "
            "which PostgreSQL and Redis it checked (passwords masked). Exit 0 only when all "
            "pass."
        ),
    )
    p.add_argument(
        "--timeout",
        type=_deadline,
        default=DEADLINE_S,
        metavar="SECONDS",
        help=f"the one deadline for all checks (default {DEADLINE_S:g})",
    )
    p.set_defaults(handler=cmd_health)


def _deadline(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not 0.1 <= seconds <= 60:
        raise argparse.ArgumentTypeError("must be between 0.1 and 60 seconds")
    return seconds


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    report = asyncio.run(check_health(settings, deadline_s=args.timeout))
    origin = getattr(args, "services_file", None)
    checked = {**report.checked, "settings": f"{origin} (checkout)" if origin else "environment"}
    if args.json:
        print_json({**report.as_dict(), "checked": checked})
    else:
        print(f"PostgreSQL  {checked['postgres']}")
        print(f"Redis       {checked['redis']} (queue {checked['queue']})")
        print(f"settings    {checked['settings']}")
        print()
        print(
            table(
                ["check", "ok", "detail"],
                [(c.name, "yes" if c.ok else "NO", c.detail) for c in report.checks],
            )
        )
        print("healthy" if report.healthy else f"unhealthy: {', '.join(report.failing())}")
    return EXIT_OK if report.healthy else EXIT_FAILED
