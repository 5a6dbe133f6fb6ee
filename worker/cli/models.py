"""``lifecycle models [--retiring] [--team T]``: every model, its state and its live use."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from jobs.overview import STATES, model_overview, resolve_team
from jobs.run_log import utc_today
from worker.cli.common import local_runtime
from worker.cli.output import EXIT_OK, UsageError, print_json, table
from worker.settings import Settings


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "models",
        parents=[common],
        help="every model: id, state, retirement date, replacement, live references",
        description=(
            "Every model of the platform (soft-deleted included) with its id, provider:name, "
            "team (custom models), state (the first that applies of "
            f"{', '.join(STATES)}), deprecation date, replacement (or the model it migrated "
            "to, or else the successor litellm's cost map suggests), live references in "
            "total and the teams holding them, and history rows of the last 30 days. "
            "Read-only."
        ),
    )
    p.add_argument(
        "--retiring",
        action="store_true",
        help="only models with a deprecation date and live references, soonest first",
    )
    p.add_argument(
        "--team",
        metavar="T",
        help="the models team T (id or slug) refers to live, and its own models, with T's counts",
    )
    p.set_defaults(handler=cmd_models)


async def _overview(settings: Settings, retiring: bool, team: str | None) -> list[dict[str, Any]]:
    async with local_runtime(settings) as runtime:
        chosen = None
        if team is not None:
            chosen = await resolve_team(runtime, team)
            if chosen is None:
                raise UsageError(f"--team {team}: no team has this id or slug")
        return await model_overview(runtime, utc_today(), retiring=retiring, team=chosen)


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    entries = asyncio.run(_overview(settings, args.retiring, args.team))
    if args.json:
        print_json(entries)
    else:
        print(render_models(entries))
    return EXIT_OK


def _date(entry: dict[str, Any]) -> str:
    when = entry["deprecation_date"]
    if when is None:
        return ""
    days = entry["days_left"]
    return f"{when} ({days}d)" if days >= 0 else f"{when} (passed)"


def render_models(entries: list[dict[str, Any]]) -> str:
    """The overview as a table; ``live`` is rows in total, ``teams`` the teams holding them."""
    if not entries:
        return "no models"
    return table(
        ["id", "model", "team", "state", "date", "replacement", "live", "teams", "recent"],
        [
            (
                e["id"],
                e["model"],
                e["team"],
                e["state"],
                _date(e),
                e["replacement"] or (e["suggested"] and f"{e['suggested']} (suggested)"),
                e["live_total"],
                e["live_teams"],
                e["recent_use"],
            )
            for e in entries
        ],
    )
