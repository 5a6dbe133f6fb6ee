"""``lifecycle migrate`` and ``lifecycle delete``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any

from db.models.lifecycle import RequestStatus
from db.queries import requests as rq
from jobs.errors import RequestRefused
from jobs.model_ref import ModelRef
from jobs.model_ref import model_label as named_model
from jobs.request_admission import Request, preview_request, with_team_ids
from jobs.request_result import ModelInResult, RequestResult
from jobs.runtime import Runtime
from worker.cli.common import (
    add_wait_options,
    local_runtime,
    model_argument,
    new_request_key,
    read_result,
    submit_and_wait,
)
from worker.cli.output import (
    EXIT_FAILED,
    EXIT_OK,
    CommandFailed,
    UsageError,
    print_json,
    table,
)
from worker.settings import Settings


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    mig = sub.add_parser(
        "migrate",
        parents=[common],
        help="move every live reference from SOURCE to TARGET, then mark SOURCE migrated",
        description=(
            "Validate, then re-point every live reference of the platform mapping "
            "(LIFECYCLE_PLATFORM_FILE, or the built-in reference platform; `lifecycle "
            "platform check` lists them) from SOURCE to TARGET in batches. History "
            "references keep SOURCE. Models are named by id (a number or a UUID, as the "
            "host keys them) or provider:name."
        ),
    )
    mig.add_argument("source", type=model_argument, metavar="SOURCE")
    mig.add_argument("target", type=model_argument, metavar="TARGET")
    mig.add_argument("--confirm-warnings", action="store_true", help="proceed despite warnings")
    _request_options(mig)
    mig.set_defaults(handler=cmd_migrate)

    dele = sub.add_parser(
        "delete",
        parents=[common],
        help="soft-delete MODEL, moving live references to --replacement or clearing them",
        description=(
            "With --replacement, live references move to it (like a migration) and MODEL is "
            "soft-deleted. Without one, clearable references are cleared; the request is "
            "refused (replacement_required) while a reference that cannot be cleared exists."
        ),
    )
    dele.add_argument("model", type=model_argument, metavar="MODEL")
    dele.add_argument("--replacement", type=model_argument, metavar="TARGET")
    _request_options(dele)
    dele.set_defaults(handler=cmd_delete)


def _request_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="validate and print the plan; change nothing"
    )
    parser.add_argument(
        "--request-key",
        metavar="KEY",
        help="idempotency key (re-use it to resume a failed request; default: a new key)",
    )
    parser.add_argument("--requested-by", default=None, help="recorded as the requester")
    parser.add_argument(
        "--team",
        action="append",
        dest="teams",
        metavar="T",
        help="only the live references of team T (its id or slug; repeat for more teams); "
        "the source is retired only once no live reference to it is left",
    )
    add_wait_options(
        parser,
        "print the request key and return at once (`lifecycle requests` shows its progress; "
        "`lifecycle requests pause|resume|cancel KEY` controls it)",
    )


def _request(
    args: argparse.Namespace, kind: str, source: ModelRef, target: ModelRef | None
) -> Request:
    return Request(
        kind,  # type: ignore[arg-type]
        str(source),
        None if target is None else str(target),
        args.requested_by or f"cli:{getpass.getuser()}",
        args.request_key or new_request_key(kind),
        bool(getattr(args, "confirm_warnings", False)),
        None if not args.teams else tuple(args.teams),
    )


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    return _run(args, settings, _request(args, "migration", args.source, args.target))


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    return _run(args, settings, _request(args, "deletion", args.model, args.replacement))


async def _with_team_ids(settings: Settings, request: Request) -> Request:
    """``--team`` values as team ids; an unknown team is bad input (exit 2)."""
    async with local_runtime(settings) as runtime:
        try:
            return await with_team_ids(runtime, request)
        except RequestRefused as exc:
            raise UsageError(str(exc)) from exc


def _run(args: argparse.Namespace, settings: Settings, request: Request) -> int:
    if request.teams is not None:
        request = asyncio.run(_with_team_ids(settings, request))
    if args.dry_run:
        report = asyncio.run(_dry_run(settings, request))
        if args.json:
            print_json(report.model_dump(mode="json"))
        else:
            print(render_request(report))
        return EXIT_FAILED if report.status == "rejected" else EXIT_OK
    job = "migrate_model" if request.kind == "migration" else "delete_model"
    payload: dict[str, Any] = {
        "requested_by": request.requested_by,
        "request_key": request.request_key,
    }
    if request.teams is not None:
        payload["teams"] = list(request.teams)
    if request.kind == "migration":
        payload.update(
            source=request.source, target=request.target, confirm_warnings=request.confirm_warnings
        )
    else:
        payload.update(model=request.source, replacement=request.target)

    async def progress(runtime: Runtime) -> tuple[int, int] | None:
        async with runtime.sessions() as session:
            totals = await rq.totals_of(session, request.request_key)
        if totals is None or totals.planned is None:
            return None
        return totals.done, max(totals.planned, totals.done)

    answer = asyncio.run(
        submit_and_wait(
            settings,
            job,
            payload,
            key=request.request_key,
            wait=not args.no_wait,
            timeout_s=args.timeout,
            progress=progress,
            show_progress=not args.json,
            retry_failed=True,
        )
    )
    if args.no_wait:
        if args.json:
            print_json({"request_key": request.request_key, **answer})
        else:
            print(request.request_key)
            print(
                f"queued as job {answer['job_id']}; `lifecycle requests` shows its progress",
                file=sys.stderr,
            )
        return EXIT_OK
    result = read_result(RequestResult, answer)
    if not args.json:
        print(render_request(result))
    if result.status == RequestStatus.SUCCEEDED:
        if args.json:
            print_json(answer)
        return EXIT_OK
    raise CommandFailed(_unfinished(result), answer)


def _unfinished(result: RequestResult) -> str:
    """Why a request the command waited for did not succeed (and what to do next)."""
    key, status = result.request_key, result.status
    if status == RequestStatus.PAUSED:
        return (
            f"request {key} paused ({result.rows()} rows moved); `lifecycle requests resume "
            f"{key}` carries it on"
        )
    if status == RequestStatus.CANCELLED:
        return f"request {key} cancelled ({result.rows()} rows moved); its source stays live"
    reason = result.error or ", ".join(result.codes)
    return f"request {key} {status}: {reason}"


async def _dry_run(settings: Settings, request: Request) -> RequestResult:
    async with local_runtime(settings) as runtime:
        return await preview_request(runtime, request)


def render_request(report: RequestResult) -> str:
    """A migration/deletion result or dry-run plan as text tables."""
    lines = []
    dry = report.dry_run
    title = "dry run, nothing changed" if dry else f"request {report.request_key}"
    arrow = f" -> {model_label(report.target)}" if report.target else ""
    lines.append(f"{title}: {report.kind} {model_label(report.source)}{arrow}")
    verdict = " (a real run would go ahead)" if dry and report.status == "ok" else ""
    lines.append(f"status: {report.status}{verdict}")
    if report.team_scope is not None:
        slugs = report.team_slugs or {}
        named = ", ".join(slugs.get(t, t) for t in report.team_scope)
        lines.append(f"teams: {named} (only their live references)")
    if report.findings:
        lines.append(table(["code", "message"], [[f.code, f.message] for f in report.findings]))
    elif report.codes:
        lines.append("codes: " + ", ".join(report.codes))
    counts = (report.plan.counts if report.plan else None) or report.counts
    if counts:
        lines.append(table(["reference", _count_heading(report)], sorted(counts.items())))
    if report.plan is not None:
        lines.append(f"teams affected: {len(report.plan.teams)}")
    elif report.teams is not None:
        lines.append(f"teams notified: {report.teams}")
    retired = _retired_line(report)
    if retired:
        lines.append(retired)
    return "\n".join(lines)


def _retired_line(report: RequestResult) -> str | None:
    """Whether the source was (or, in a dry run, would be) retired; said where it is not
    or where the request was limited to some teams."""
    if report.status not in (RequestStatus.SUCCEEDED, "ok"):
        return None
    retired = report.source_retired
    if retired and report.team_scope is None:
        return None
    verb = ("would be " if report.dry_run else "") + ("retired" if retired else "kept")
    if retired:
        return f"source {verb}: no live reference to it is left"
    return f"source {verb}: other teams still use it (source_retired: false)"


def model_label(model: ModelInResult | None) -> str:
    """``provider:name`` of a model in a report (with its team for a team's custom model,
    by id as history and notifications name it), or its id when only that is known."""
    if model is None:
        return "?"
    if model.provider and model.name:
        return named_model(model.provider, model.name, model.team_id)
    return model.id or "?"


def _count_heading(report: RequestResult) -> str:
    if report.dry_run:
        return "would change"
    if report.status == RequestStatus.REJECTED:
        return "would have changed"
    return "changed" if report.status == RequestStatus.SUCCEEDED else "changed so far"
