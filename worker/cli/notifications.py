"""``lifecycle notifications [--team SLUG] [--model MODEL] [--limit N]``: recent notifications."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import asdict
from datetime import UTC

from db.queries.notifications import NotificationRow, find_team_id, recent_notifications
from jobs.model_ref import ModelRef
from worker.cli.common import local_runtime, model_argument
from worker.cli.output import EXIT_OK, UsageError, print_json, table
from worker.settings import Settings

MAX_LIMIT = 10_000


def _limit(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 1 <= n <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_LIMIT}")
    return n


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "notifications",
        parents=[common],
        help="list recent notifications, newest first (read-only)",
        description=(
            "Notifications the worker wrote for teams' model managers, newest first, "
            "optionally only one team's or about one model (also after it was hard-deleted)."
        ),
    )
    p.add_argument("--team", metavar="SLUG", help="only this team's notifications")
    p.add_argument(
        "--model",
        type=model_argument,
        metavar="MODEL",
        help="only notifications about this model (UUID or provider:name; works after deletion)",
    )
    p.add_argument(
        "--limit", type=_limit, default=50, metavar="N", help="at most N rows (default 50)"
    )
    p.set_defaults(handler=cmd_notifications)


async def _list(
    settings: Settings, team: str | None, model: ModelRef | None, limit: int
) -> list[NotificationRow]:
    async with local_runtime(settings) as runtime, runtime.sessions() as session:
        team_id = None
        if team is not None:
            team_id = await find_team_id(session, team)
            if team_id is None:
                raise UsageError(f"no team with slug {team!r}")
        return await recent_notifications(
            session,
            team_id=team_id,
            model_id=model.model_id if model else None,
            provider=model.provider if model else None,
            name=model.name if model else None,
            limit=limit,
        )


def cmd_notifications(args: argparse.Namespace, settings: Settings) -> int:
    rows = asyncio.run(_list(settings, args.team, args.model, args.limit))
    if args.json:
        print_json({"ok": True, "notifications": [asdict(r) for r in rows]})
        return EXIT_OK
    print(render_notifications(rows))
    return EXIT_OK


def render_notifications(rows: list[NotificationRow]) -> str:
    """Notifications as a table (newest first, as listed)."""
    if not rows:
        return "no notifications"
    return table(
        ["created (UTC)", "team", "user", "level", "slug", "title", "read"],
        [
            (
                r.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
                r.team_slug or r.team_id,
                r.user_email or r.user_id,
                r.level,
                r.slug,
                r.title,
                "yes" if r.read_at else "no",
            )
            for r in rows
        ],
    )
