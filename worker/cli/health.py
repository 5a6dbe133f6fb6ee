"""``lifecycle health``."""

from __future__ import annotations

import argparse
import asyncio

from worker.cli.output import EXIT_FAILED, EXIT_OK, print_json, table
from worker.health import check_health
from worker.settings import Settings


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "health",
        parents=[common],
        help="check Redis, PostgreSQL, schema, worker heartbeat and queue (exit 1 if unhealthy)",
        description=(
            "Checks Redis, PostgreSQL, that the schema is at the Alembic head, that a worker "
            "heartbeat is live on the queue, and the queue's depth; prints which PostgreSQL "
            "and Redis it checked (passwords masked). Exit 0 only when all pass."
        ),
    )
    p.set_defaults(handler=cmd_health)


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    report = asyncio.run(check_health(settings))
    if args.json:
        print_json(report.as_dict())
    else:
        print(
            table(
                ["check", "ok", "detail"],
                [(c.name, "yes" if c.ok else "NO", c.detail) for c in report.checks],
            )
        )
        print("healthy" if report.healthy else f"unhealthy: {', '.join(report.failing())}")
    return EXIT_OK if report.healthy else EXIT_FAILED
