"""``lifecycle history [MODEL]``: migrations and deletions, also of hard-deleted models."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from jobs.history import HISTORY_LIMIT, model_history
from jobs.model_ref import ModelRef
from worker.cli.common import local_runtime, model_argument
from worker.cli.output import EXIT_OK, CommandFailed, print_json, table
from worker.settings import Settings

MAX_ROWS = HISTORY_LIMIT


def _limit(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 1 <= n <= MAX_ROWS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_ROWS}")
    return n


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    hist = sub.add_parser(
        "history",
        parents=[common],
        help="migrations and deletions (with name snapshots), also of hard-deleted models",
        description=(
            "Migration and deletion requests, newest first, with the names they were made "
            "under, so hard-deleted models keep their history, and hard deletes. With MODEL "
            "(an id, or provider:name for the global model), only that model's; a team's "
            "custom model is shown with its team. A MODEL that neither exists nor was ever "
            f"recorded is an error (exit 1). At most {MAX_ROWS} rows."
        ),
    )
    hist.add_argument("model", type=model_argument, nargs="?", metavar="MODEL")
    hist.add_argument(
        "--limit",
        type=_limit,
        default=50,
        metavar="N",
        help=f"rows to show, newest first (default 50, at most {MAX_ROWS})",
    )
    hist.set_defaults(handler=cmd_history)


def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    rows = asyncio.run(history_rows(settings, args.model, args.limit))
    if rows is None:
        raise CommandFailed(
            f"no model {args.model} exists, and no migration, deletion or audit record names "
            "it (provider:name names a global model; a team's model is named by its id)",
            {"model": str(args.model)},
        )
    if args.json:
        print_json(rows)
    else:
        print(render_history(rows, args.model))
    return EXIT_OK


def render_history(rows: list[dict[str, Any]], model: ModelRef | None = None) -> str:
    """Request history as a table; a rejected request's counts are what it would have changed."""
    if not rows:
        return "no migrations or deletions recorded" + (f" for {model}" if model else "")
    return table(
        ["created", "kind", "status", "from", "to", "changed", "codes", "by"],
        [
            (
                r["created_at"][:19],
                r["kind"],
                r["status"],
                r["from"],
                r["to"] or "-",
                _changed(r),
                ", ".join(r["codes"]) or "-",
                r["requested_by"],
            )
            for r in rows
        ],
    )


def _changed(row: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {label}" for label, n in row["counts"].items())
    if row["status"] == "rejected":
        return f"nothing (would have: {counts})" if counts else "nothing"
    return counts or "-"


async def history_rows(
    settings: Settings, ref: ModelRef | None, limit: int
) -> list[dict[str, Any]] | None:
    """History as JSON-ready rows, newest first; ``None`` when ``ref`` names nothing known."""
    async with local_runtime(settings) as runtime, runtime.sessions() as session:
        return await model_history(session, ref, limit)
