"""``lifecycle history [MODEL]``: migrations and deletions, also of hard-deleted models."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ModelMigration
from db.queries.audit import model_name_from_audit
from db.queries.requests import requests_for_model
from jobs.model_ref import ModelRef, resolve_model_ref
from worker.cli.common import local_runtime, model_argument
from worker.cli.output import EXIT_OK, CommandFailed, print_json, table
from worker.settings import Settings

# requests_for_model reads at most this many requests per lookup.
MAX_ROWS = 200


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
            "under, so hard-deleted models keep their history. With MODEL (id or "
            "provider:name), only requests from or to it; a MODEL that neither exists nor "
            f"was ever recorded is an error (exit 1). At most {MAX_ROWS} rows."
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


async def _requests(session: AsyncSession, ref: ModelRef | None) -> list[ModelMigration] | None:
    """The requests naming ``ref`` (all requests without one); ``None``: nothing known of it."""
    if ref is None:
        return await requests_for_model(session, None, None, None)
    model = await resolve_model_ref(session, ref)
    if model is None and ref.model_id is not None:
        # Hard-deleted: its id is gone from the requests, its name is in the audit trail.
        named = await model_name_from_audit(session, ref.model_id)
        return await requests_for_model(session, None, *named) if named else None
    if model is None:
        return await requests_for_model(session, None, ref.provider, ref.name) or None
    requests = await requests_for_model(session, model.id, None, None)
    seen = {r.id for r in requests}
    by_name = await requests_for_model(session, None, model.provider, model.name)
    return requests + [r for r in by_name if r.id not in seen]


async def history_rows(
    settings: Settings, ref: ModelRef | None, limit: int
) -> list[dict[str, Any]] | None:
    """History as JSON-ready rows, newest first; ``None`` when ``ref`` names nothing known."""
    async with local_runtime(settings) as runtime, runtime.sessions() as session:
        requests = await _requests(session, ref)
    if requests is None:
        return None
    requests.sort(key=lambda r: r.created_at, reverse=True)
    return [_row(r) for r in requests[:limit]]


def _row(r: ModelMigration) -> dict[str, Any]:
    return {
        "id": str(r.id),
        "created_at": r.created_at.isoformat(),
        "kind": r.kind,
        "status": r.status,
        "from": f"{r.from_provider}:{r.from_model_name}",
        "from_model_id": str(r.from_model_id) if r.from_model_id else None,
        "to": f"{r.to_provider}:{r.to_model_name}" if r.to_model_name else None,
        "to_model_id": str(r.to_model_id) if r.to_model_id else None,
        # A rejected request changed nothing: its counts are what it would have changed.
        "counts": dict(r.counts or {}),
        "counts_are": "would_have_changed" if r.status == "rejected" else "changed",
        "codes": list(r.warnings or []),
        "requested_by": r.requested_by,
        "request_key": r.request_key,
        "error": r.error,
    }
