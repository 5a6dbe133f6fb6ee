"""``lifecycle notifications``: recent notifications; ``--failed`` deliveries that did
not get through; ``retry [ID…]`` puts failed deliveries back in the queue."""

from __future__ import annotations

import argparse
import asyncio
import logging
import uuid
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

from db.queries.deliveries import DeliveryRow, list_deliveries, retry_failed_deliveries
from db.queries.notifications import NotificationRow, find_team_id, recent_notifications
from jobs.channels import channel_secrets
from jobs.channels.base import scrub
from jobs.deliveries import JOB as SEND_JOB
from jobs.model_ref import ModelRef
from worker.cli.common import local_runtime, model_argument, new_request_key
from worker.cli.output import EXIT_FAILED, EXIT_OK, UsageError, print_json, table
from worker.client import LifecycleClient
from worker.settings import Settings

MAX_LIMIT = 10_000
log = logging.getLogger("lifecycle.cli")


def _limit(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 1 <= n <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_LIMIT}")
    return n


def _delivery_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a delivery id (a UUID)") from None


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "notifications",
        parents=[common],
        help="list recent notifications, newest first (read-only); failed deliveries; retry",
        description=(
            "Notifications the worker wrote for teams' model managers, newest first, "
            "optionally only one team's or about one model (also after it was hard-deleted); "
            "--failed lists deliveries that did not get through, `notifications retry` "
            "queues them again."
        ),
    )
    p.add_argument("--team", metavar="SLUG", help="only this team's notifications")
    p.add_argument(
        "--model",
        type=model_argument,
        metavar="MODEL",
        help="only notifications about this model (id or provider:name; works after deletion)",
    )
    p.add_argument(
        "--limit", type=_limit, default=50, metavar="N", help="at most N rows (default 50)"
    )
    p.add_argument(
        "--failed",
        action="store_true",
        help="list deliveries (webhook, Slack, email) that failed for good, with their last error",
    )
    p.set_defaults(handler=cmd_notifications)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    retry = actions.add_parser(
        "retry",
        parents=[common],
        help="put failed deliveries (all, or those named) back in the queue, due now",
        description="Put failed deliveries back in the queue, due now, with their attempts "
        "reset: every failed one, or only the ids named (see `notifications --failed`). "
        "An id that is not a failed delivery is named and the exit code is 1.",
    )
    retry.add_argument("ids", nargs="*", type=_delivery_id, metavar="ID", help="delivery ids")
    retry.set_defaults(handler=cmd_retry)


async def _list(
    settings: Settings, team: str | None, model: ModelRef | None, limit: int
) -> list[NotificationRow]:
    async with local_runtime(settings) as runtime, runtime.sessions() as session:
        team_id = None
        if team is not None:
            team_id = await find_team_id(session, runtime.platform, team)
            if team_id is None:
                raise UsageError(f"no team with slug {team!r}")
        return await recent_notifications(
            session,
            runtime.platform,
            team_id=team_id,
            model_id=model.model_id if model else None,
            provider=model.provider if model else None,
            name=model.name if model else None,
            limit=limit,
        )


async def _failed(settings: Settings, limit: int) -> list[DeliveryRow]:
    """Failed deliveries; their errors scrubbed again with the secrets configured now
    (a row stored by an older version, or before a secret changed, shows none either)."""
    async with local_runtime(settings) as runtime, runtime.sessions() as session:
        rows = await list_deliveries(session, runtime.platform, status="failed", limit=limit)
    secrets = channel_secrets(settings.job_config)
    return [
        replace(r, last_error=scrub(r.last_error, secrets) if r.last_error else None) for r in rows
    ]


def cmd_notifications(args: argparse.Namespace, settings: Settings) -> int:
    if args.failed:
        failed = asyncio.run(_failed(settings, args.limit))
        if args.json:
            print_json({"ok": True, "deliveries": [asdict(d) for d in failed]})
        else:
            print(render_failed(failed))
        return EXIT_OK
    rows = asyncio.run(_list(settings, args.team, args.model, args.limit))
    if args.json:
        print_json({"ok": True, "notifications": [asdict(r) for r in rows]})
        return EXIT_OK
    print(render_notifications(rows))
    return EXIT_OK


async def _retry(settings: Settings, ids: list[uuid.UUID] | None) -> dict[str, Any]:
    async with local_runtime(settings) as runtime, runtime.sessions() as session, session.begin():
        requeued = await retry_failed_deliveries(session, ids)
    queued = False
    if requeued:
        try:
            async with LifecycleClient(settings) as client:
                await client.enqueue(SEND_JOB, {}, key=new_request_key("retry"))
            queued = True
        except Exception as exc:  # the every-minute sender picks them up anyway
            log.warning("sender not queued (%s); the every-minute run will send them", exc)
    missing = sorted(str(i) for i in set(ids or ()) - set(requeued))
    return {
        "ok": not missing,
        "requeued": [str(i) for i in requeued],
        "not_failed": missing,
        "sender_queued": queued,
    }


def cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    report = asyncio.run(_retry(settings, list(args.ids) or None))
    if args.json:
        print_json(report)
    else:
        print(f"{len(report['requeued'])} failed delivery(ies) queued again")
        if report["not_failed"]:
            print("not failed (unknown, pending or delivered): " + ", ".join(report["not_failed"]))
    return EXIT_OK if report["ok"] else EXIT_FAILED


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def render_failed(rows: list[DeliveryRow]) -> str:
    """Failed deliveries as a table (newest first)."""
    if not rows:
        return "no failed deliveries"
    return table(
        ["id", "created (UTC)", "channel", "target", "team", "slug", "model", "tries", "error"],
        [
            (
                r.id,
                _when(r.created_at),
                r.channel,
                r.target,
                r.team_slug or r.team_id or "-",
                r.slug,
                f"{r.model_provider}:{r.model_name}",
                r.attempts,
                (r.last_error or "")[:80],
            )
            for r in rows
        ],
    )


def render_notifications(rows: list[NotificationRow]) -> str:
    """Notifications as a table (newest first, as listed)."""
    if not rows:
        return "no notifications"
    return table(
        ["created (UTC)", "team", "user", "level", "slug", "title", "read"],
        [
            (
                _when(r.created_at),
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
