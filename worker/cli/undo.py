"""``lifecycle undo KEY [--dry-run]``: put back what a finished request changed."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from db.models.lifecycle import RequestStatus
from jobs.request_result import UndoResult
from jobs.undo import UndoRequestPayload, undo_request
from worker.cli.common import add_wait_options, local_runtime, read_result, submit_and_wait
from worker.cli.migrate import model_label
from worker.cli.output import EXIT_OK, CommandFailed, print_json, table
from worker.client import undo_job_key
from worker.settings import Settings


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    undo = sub.add_parser(
        "undo",
        parents=[common],
        help="put back what a finished migration or deletion request changed",
        description=(
            "Undo a succeeded, failed or cancelled request: every row it changed that still "
            "holds what it wrote gets its previous value back (the model, a JSON copy in its "
            "own form, link rows, parameters as they were); a row changed since is left "
            "alone and counted. The source's migrated or deleted mark is cleared when that "
            "request set it, and models it re-pointed point at the source again. The "
            "request ends undone and the teams it touched are told. Refused while another "
            "request holds the source or the target (migration_in_progress), once the "
            "cleanup removed the source (source_deleted), or for a request recorded without "
            "a journal (undo_unavailable)."
        ),
    )
    undo.add_argument("request_key", metavar="KEY", help="the request's key")
    undo.add_argument(
        "--dry-run",
        action="store_true",
        help="count what would be put back and what changed since; change nothing",
    )
    undo.add_argument("--requested-by", default=None, help="recorded in the audit trail")
    add_wait_options(undo)
    undo.set_defaults(handler=cmd_undo)


def cmd_undo(args: argparse.Namespace, settings: Settings) -> int:
    actor = args.requested_by or f"cli:{getpass.getuser()}"
    payload = UndoRequestPayload(
        request_key=args.request_key, requested_by=actor, dry_run=args.dry_run
    )
    if args.dry_run:
        result = asyncio.run(_dry_run(settings, payload))
        answer = result.model_dump(mode="json")
    else:
        answer = asyncio.run(
            submit_and_wait(
                settings,
                "undo_request",
                payload.model_dump(mode="json"),
                key=undo_job_key(args.request_key),
                wait=not args.no_wait,
                timeout_s=args.timeout,
                show_progress=not args.json,
                retry_failed=True,
            )
        )
        if args.no_wait:
            if args.json:
                print_json({"request_key": args.request_key, **answer})
            else:
                print(f"queued as job {answer['job_id']}", file=sys.stderr)
            return EXIT_OK
        result = read_result(UndoResult, answer)
    if not args.json:
        print(render_undo(result))
    if result.status == RequestStatus.REJECTED:
        raise CommandFailed(f"undo of {args.request_key} refused: {result.error}", answer)
    if args.json:
        print_json(answer)
    return EXIT_OK


async def _dry_run(settings: Settings, payload: UndoRequestPayload) -> UndoResult:
    async with local_runtime(settings) as runtime:
        return await undo_request(runtime, payload)


def render_undo(result: UndoResult) -> str:
    """An undo's result (or dry run) as text."""
    key = result.request_key
    arrow = f" -> {model_label(result.target)}" if result.target else " (cleared)"
    move = f"{result.kind} {model_label(result.source)}{arrow}"
    if result.status == RequestStatus.REJECTED:
        return f"undo of request {key} ({move}) refused; the request stays {result.request_status}"
    title = "dry run, nothing changed: undo of" if result.dry_run else "undone:"
    lines = [f"{title} request {key} ({move})"]
    restored, changed = result.restored, result.changed_since
    labels = sorted(set(restored) | set(changed))
    heading = "would restore" if result.dry_run else "restored"
    if labels:
        rows = [(label, restored.get(label, 0), changed.get(label, 0)) for label in labels]
        lines.append(table(["reference", heading, "changed since (left)"], rows))
    else:
        lines.append("no rows to put back")
    if not result.dry_run and result.source_mark_cleared:
        lines.append(f"{model_label(result.source)} is live again")
    return "\n".join(lines)
