"""``lifecycle migrate``, ``lifecycle delete`` and ``lifecycle history``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
from typing import Any

from sqlalchemy import select

from db.models import ModelMigration
from db.queries.audit import model_name_from_audit
from db.queries.migration import requests_for_model
from jobs.migration import Request, plan_request
from jobs.model_ref import ModelRef, resolve_model_ref
from jobs.runtime import Runtime
from jobs.validation import snapshot
from worker.cli.common import (
    add_wait_options,
    local_runtime,
    model_argument,
    new_request_key,
    submit_and_wait,
)
from worker.cli.output import EXIT_FAILED, EXIT_OK, CommandFailed, print_json, table
from worker.settings import Settings


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    mig = sub.add_parser(
        "migrate",
        parents=[common],
        help="move every live reference from SOURCE to TARGET, then mark SOURCE migrated",
        description=(
            "Validate, then re-point all live configuration (assistants, apps, services, "
            "templates, spaces, pipelines) from SOURCE to TARGET in batches. History "
            "(questions, app runs) keeps SOURCE. Models are a UUID or provider:name."
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

    hist = sub.add_parser(
        "history",
        parents=[common],
        help="migrations and deletions (with name snapshots), also of hard-deleted models",
    )
    hist.add_argument("model", type=model_argument, nargs="?", metavar="MODEL")
    hist.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")
    hist.set_defaults(handler=cmd_history)


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
    add_wait_options(parser)


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
    )


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    return _run(args, settings, _request(args, "migration", args.source, args.target))


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    return _run(args, settings, _request(args, "deletion", args.model, args.replacement))


def _run(args: argparse.Namespace, settings: Settings, request: Request) -> int:
    if args.dry_run:
        report = asyncio.run(_dry_run(settings, request))
        _show(args, report)
        return EXIT_FAILED if report["status"] == "refused" else EXIT_OK
    job = "migrate_model" if request.kind == "migration" else "delete_model"
    payload: dict[str, Any] = {
        "requested_by": request.requested_by,
        "request_key": request.request_key,
    }
    if request.kind == "migration":
        payload.update(
            source=request.source, target=request.target, confirm_warnings=request.confirm_warnings
        )
    else:
        payload.update(model=request.source, replacement=request.target)

    async def progress(runtime: Runtime) -> tuple[int, int] | None:
        async with runtime.sessions() as session:
            row = (
                await session.execute(
                    select(ModelMigration.progress).where(
                        ModelMigration.request_key == request.request_key
                    )
                )
            ).scalar_one_or_none()
        if not row:
            return None
        planned = sum(int(v) for v in (row.get("planned") or {}).values())
        done = sum(int(v) for v in (row.get("done") or {}).values())
        return done, max(planned, done)

    result = asyncio.run(
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
    if args.no_wait or result.get("status") == "succeeded":
        _show(args, result)
        return EXIT_OK
    if not args.json:
        _show(args, result)
    reason = result.get("error") or ", ".join(result.get("codes") or [])
    raise CommandFailed(f"request {request.request_key} {result.get('status')}: {reason}", result)


async def _dry_run(settings: Settings, request: Request) -> dict[str, Any]:
    async with local_runtime(settings) as runtime, runtime.sessions() as session:
        source, target, verdict = await plan_request(session, request)
    refused = verdict.refused(request.confirm_warnings)
    return {
        "status": "refused" if refused else "ok",
        "dry_run": True,
        "kind": request.kind,
        "source": snapshot(source) or {"named": request.source},
        "target": snapshot(target)
        or (None if request.target is None else {"named": request.target}),
        "codes_by_kind": verdict.codes(),
        "messages": verdict.messages(),
        "plan": verdict.plan(),
    }


def _show(args: argparse.Namespace, report: dict[str, Any]) -> None:
    if args.json:
        print_json(report)
    elif "status" not in report:
        print(f"queued as job {report['job_id']}")
    else:
        print(render_request(report))


def render_request(report: dict[str, Any]) -> str:
    """A migration/deletion result or dry-run plan as text tables."""
    lines = []
    title = "dry run" if report.get("dry_run") else f"request {report.get('request_key')}"
    src, tgt = report.get("source") or {}, report.get("target")
    arrow = f" -> {tgt.get('provider')}:{tgt.get('name')}" if tgt and tgt.get("name") else ""
    lines.append(f"{title}: {report.get('kind')} {src.get('provider')}:{src.get('name')}{arrow}")
    lines.append(f"status: {report['status']}")
    messages = report.get("messages") or []
    if messages:
        lines.append(table(["code", "message"], [m.split(": ", 1) for m in messages]))
    elif report.get("codes"):
        lines.append("codes: " + ", ".join(report["codes"]))
    counts = (report.get("plan") or {}).get("counts") or report.get("counts") or {}
    teams = (report.get("plan") or {}).get("teams")
    heading = "changed" if report.get("status") == "succeeded" else "would change"
    if counts:
        lines.append(table(["reference", heading], sorted(counts.items())))
    if teams is not None:
        lines.append(f"teams affected: {len(teams)}")
    elif report.get("teams") is not None:
        lines.append(f"teams notified: {report['teams']}")
    return "\n".join(lines)


def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    rows = asyncio.run(history_rows(settings, args.model, args.limit))
    if args.json:
        print_json(rows)
    else:
        print(render_history(rows))
    return EXIT_OK


def render_history(rows: list[dict[str, Any]]) -> str:
    """Request history as a table."""
    if not rows:
        return "no migrations or deletions recorded"
    return table(
        ["created", "kind", "status", "from", "to", "changed", "codes", "by"],
        [
            (
                r["created_at"][:19],
                r["kind"],
                r["status"],
                r["from"],
                r["to"] or "-",
                ", ".join(f"{n} {k}" for k, n in r["counts"].items()) or "-",
                ", ".join(r["codes"]) or "-",
                r["requested_by"],
            )
            for r in rows
        ],
    )


async def history_rows(
    settings: Settings, ref: ModelRef | None, limit: int
) -> list[dict[str, Any]]:
    async with local_runtime(settings) as runtime, runtime.sessions() as session:
        model = await resolve_model_ref(session, ref) if ref else None
        if ref is not None and model is None and ref.model_id is not None:
            # Hard-deleted: its id is gone from the requests, its name is in the audit trail.
            named = await model_name_from_audit(session, ref.model_id)
            requests = await requests_for_model(session, None, *named) if named else []
        elif ref is not None and model is None:
            requests = await requests_for_model(session, None, ref.provider, ref.name)
        elif ref is not None:
            model_id = model.id if model else ref.model_id
            requests = await requests_for_model(session, model_id, None, None)
            if model is not None:
                by_name = await requests_for_model(session, None, model.provider, model.name)
                seen = {r.id for r in requests}
                requests += [r for r in by_name if r.id not in seen]
        else:
            requests = await requests_for_model(session, None, None, None)
    requests.sort(key=lambda r: r.created_at, reverse=True)
    return [
        {
            "id": str(r.id),
            "created_at": r.created_at.isoformat(),
            "kind": r.kind,
            "status": r.status,
            "from": f"{r.from_provider}:{r.from_model_name}",
            "from_model_id": str(r.from_model_id) if r.from_model_id else None,
            "to": f"{r.to_provider}:{r.to_model_name}" if r.to_model_name else None,
            "to_model_id": str(r.to_model_id) if r.to_model_id else None,
            "counts": dict(r.counts or {}),
            "codes": list(r.warnings or []),
            "requested_by": r.requested_by,
            "request_key": r.request_key,
            "error": r.error,
        }
        for r in requests[:limit]
    ]
