"""``lifecycle requests [--active]`` and ``lifecycle requests pause|resume|cancel KEY``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
from collections.abc import Awaitable, Callable
from typing import Any

from jobs.request_control import LIST_LIMIT, RequestControlError, RequestSummary
from jobs.request_result import RequestResult
from worker.cli.migrate import model_label
from worker.cli.output import EXIT_OK, CommandFailed, print_json, table
from worker.client import LifecycleClient
from worker.settings import Settings


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    requests = sub.add_parser(
        "requests",
        parents=[common],
        help="list migration and deletion requests; pause, resume or cancel one",
        description=(
            f"Without a command: the {LIST_LIMIT} newest migration and deletion requests, "
            "with their status, rows done of planned, rows per second of their latest run "
            "and the time left at that rate."
        ),
    )
    requests.add_argument(
        "--active", action="store_true", help="only pending, running and paused requests"
    )
    requests.set_defaults(handler=cmd_list)
    controls = requests.add_subparsers(dest="requests_command", metavar="COMMAND")
    for name, text in (
        (
            "pause",
            "Stop a pending or running request after its current batch (the command returns "
            "once that batch has committed). It stays active and keeps its source: no other "
            "request may take it until this one is resumed or cancelled.",
        ),
        (
            "resume",
            "Carry a paused request on from where it stopped: its job is queued again and "
            "moves the rows left, under the same checks as before.",
        ),
        (
            "cancel",
            "Stop a pending, running or paused request for good after its current batch. "
            "Rows it moved stay moved, the rest stay on the source, which stays live and is "
            "free for a new request.",
        ),
    ):
        control = controls.add_parser(
            name, parents=[common], help=text.split(".")[0].lower(), description=text
        )
        control.add_argument("request_key", metavar="KEY", help="the request's key")
        control.add_argument("--requested-by", default=None, help="recorded in the audit trail")
        control.set_defaults(handler=cmd_control)


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    async def listed() -> list[RequestSummary]:
        async with LifecycleClient(settings) as client:
            return await client.requests(active=args.active)

    rows = asyncio.run(listed())
    if args.json:
        print_json([r.as_json() for r in rows])
    else:
        print(render_requests(rows, active=args.active))
    return EXIT_OK


def render_requests(rows: list[RequestSummary], *, active: bool = False) -> str:
    """Requests as a table, newest first."""
    if not rows:
        return "no active requests" if active else "no migration or deletion requests recorded"
    headers = ["request_key", "kind", "status", "source", "target", "teams", "done"]
    return table(
        [*headers, "planned", "rows/s", "eta"],
        [
            (
                r.request_key,
                r.kind,
                r.status,
                model_label(r.source),
                model_label(r.target) if r.target else "(cleared)",
                "all" if r.teams is None else ",".join(r.teams),
                r.done,
                r.planned,
                "" if r.rows_per_s is None else f"{r.rows_per_s:,.0f}",
                _duration(r.eta_s),
            )
            for r in rows
        ],
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def cmd_control(args: argparse.Namespace, settings: Settings) -> int:
    """``requests pause|resume|cancel KEY``: the client's control of that name."""
    name = args.requests_command
    actor = args.requested_by or f"cli:{getpass.getuser()}"

    async def run() -> dict[str, Any]:
        async with LifecycleClient(settings) as client:
            control: Callable[..., Awaitable[dict[str, Any]]] = getattr(client, f"{name}_request")
            return await control(args.request_key, requested_by=actor)

    try:
        answer = asyncio.run(run())
    except RequestControlError as exc:
        raise CommandFailed(str(exc), {"code": exc.code, "request_key": args.request_key}) from exc
    if args.json:
        print_json(answer)
    else:
        print(CONTROL_TEXT[name](RequestResult.model_validate(answer)))
    return EXIT_OK


def _moved(result: RequestResult) -> str:
    return f"{result.rows()} rows moved"


def _paused_text(result: RequestResult) -> str:
    key = result.request_key
    was = "paused" if result.changed else "was already paused"
    return (
        f"request {key} {was} ({_moved(result)}); it keeps its source. "
        f"`lifecycle requests resume {key}` carries on, "
        f"`lifecycle requests cancel {key}` stops it for good"
    )


def _resumed_text(result: RequestResult) -> str:
    key = result.request_key
    if result.job_id is None:
        return f"request {key} is {result.status}; nothing to resume"
    was = "resumed" if result.changed else "was already resumed"
    return (
        f"request {key} {was}: job {result.job_id} carries it on from where it stopped "
        "(`lifecycle requests` shows its progress)"
    )


def _cancelled_text(result: RequestResult) -> str:
    key = result.request_key
    was = "cancelled" if result.changed else "was already cancelled"
    kept = (
        f"the rows moved stay on {model_label(result.target)}"
        if result.target
        else "the rows cleared stay cleared"
    )
    return (
        f"request {key} {was} ({_moved(result)}); {kept}, the rest stay on "
        f"{model_label(result.source)}, which stays live and is free for a new request"
    )


CONTROL_TEXT: dict[str, Callable[[RequestResult], str]] = {
    "pause": _paused_text,
    "resume": _resumed_text,
    "cancel": _cancelled_text,
}
