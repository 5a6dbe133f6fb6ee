"""``lifecycle catalog sync FILE [--dry-run]`` and ``lifecycle catalog prune-check FILE``."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from jobs.catalog import DELETE_JOB, JOB, SyncCatalogPayload, prepare_sync, prune_check
from jobs.catalog_file import CatalogError, parse_deleted_entries, read_catalog_file
from jobs.run_log import utc_today
from worker.cli.common import add_wait_options, local_runtime, new_request_key, submit_and_wait
from worker.cli.output import EXIT_OK, CommandFailed, UsageError, print_json, table
from worker.client import JobFailed, LifecycleClient
from worker.settings import Settings

REQUESTED_BY = "cli"


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    catalog = sub.add_parser("catalog", help="reconcile the model catalog (a TOML file)")
    catalog_sub = catalog.add_subparsers(dest="catalog_command", required=True, metavar="COMMAND")
    sync = catalog_sub.add_parser(
        "sync",
        parents=[common],
        help="create/update global models from FILE; report models missing from it",
        description=(
            "Validates FILE (every error listed, exit 2, nothing changed), then queues the "
            "sync for a worker and waits for it. --dry-run prints the plan in-process. "
            "Models missing from the file are reported, never deleted; [[deleted]] entries "
            "are handed to delete_model."
        ),
    )
    sync.add_argument("file", type=Path, metavar="FILE", help="the catalog TOML file")
    sync.add_argument(
        "--dry-run", action="store_true", help="print the plan and change nothing (no worker)"
    )
    add_wait_options(sync)
    sync.set_defaults(handler=cmd_sync)
    prune = catalog_sub.add_parser(
        "prune-check",
        parents=[common],
        help="list [[deleted]] entries of FILE that are safe to remove from it",
        description=(
            "An entry is safe to remove once its model was deleted more than 30 days ago "
            "(audit trail) and no global row of that name remains in the database."
        ),
    )
    prune.add_argument("file", type=Path, metavar="FILE", help="the catalog TOML file")
    prune.set_defaults(handler=cmd_prune_check)


def read_catalog(path: Path) -> dict[str, Any]:
    """The parsed TOML document; unreadable or invalid TOML is bad input (exit 2)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read catalog {path}: {exc}") from exc
    try:
        return read_catalog_file(text)
    except CatalogError as exc:
        raise UsageError(_errors_message(path, exc)) from exc


def _errors_message(path: Path, exc: CatalogError) -> str:
    lines = [f"catalog {path} refused, nothing changed ({len(exc.errors)} error(s)):"]
    return "\n".join(lines + [f"  - {e}" for e in exc.errors])


async def _plan(settings: Settings, path: Path, raw: dict[str, Any]) -> dict[str, Any]:
    async with local_runtime(settings) as runtime, runtime.sessions() as session:
        try:
            plan, _ = await prepare_sync(session, raw, utc_today(), runtime.platform.live())
        except CatalogError as exc:
            raise UsageError(_errors_message(path, exc)) from exc
    return plan.report


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    raw = read_catalog(args.file)
    report = asyncio.run(_plan(settings, args.file, raw))
    if args.dry_run:
        result: dict[str, Any] = {"dry_run": True, "plan": report}
    else:
        payload = SyncCatalogPayload(catalog=raw, requested_by=REQUESTED_BY)
        try:
            result = asyncio.run(
                submit_and_wait(
                    settings,
                    JOB,
                    payload.model_dump(mode="json"),
                    key=new_request_key("catalog-sync"),
                    wait=not args.no_wait,
                    timeout_s=args.timeout,
                )
            )
        except CommandFailed as exc:
            if exc.data.get("error") == "InvalidPayload":
                raise UsageError(str(exc)) from exc  # the catalog changed under us
            raise
        if args.no_wait:
            if args.json:
                print_json(result)
            else:
                print(f"queued {result['job_id']}")
            return EXIT_OK
        result["deletions"] = asyncio.run(_wait_for_deletions(settings, result, args.timeout))
    if args.json:
        print_json(result)
    else:
        print(render_plan(result["plan"], dry_run=bool(result.get("dry_run"))))
        if result.get("deletions"):
            print(render_deletions(result["deletions"]))
    refused = [d for d in result.get("deletions", []) if d["status"] != "succeeded"]
    if refused:
        listed = "; ".join(f"{d['model']}: {d['status']} ({d['reason']})" for d in refused)
        raise CommandFailed(f"catalog deletion(s) not done: {listed}", {"deletions": refused})
    return EXIT_OK


async def _wait_for_deletions(
    settings: Settings, result: dict[str, Any], timeout_s: float
) -> list[dict[str, Any]]:
    """Each deletion the sync handed to ``delete_model``, waited for, with its outcome."""
    outcomes = []
    async with LifecycleClient(settings) as client:
        deleted, keys = result["plan"]["deleted"], result["delete_requests"]
        for entry, key in zip(deleted, keys, strict=True):
            outcome: dict[str, Any] = {"model": entry["model"], "request_key": key}
            try:
                done = await client.result(client.job_id(DELETE_JOB, key), timeout_s=timeout_s)
            except JobFailed as exc:
                outcome.update(status="failed", reason=str(exc.error.get("message")))
            except TimeoutError as exc:
                raise CommandFailed(
                    f"deletion {key} did not finish within {timeout_s:.0f}s (it keeps running)",
                    {"request_key": key},
                ) from exc
            else:
                codes = ", ".join(done.get("codes") or [])
                reason = done.get("error") or codes or "-"
                outcome.update(status=done["status"], codes=done.get("codes"), reason=reason)
            outcomes.append(outcome)
    return outcomes


def render_deletions(deletions: list[dict[str, Any]]) -> str:
    """What became of each deletion the sync requested."""
    rows = [(d["model"], d["status"], d["reason"]) for d in deletions]
    return table(["deletion", "status", "detail"], rows)


def _fields(fields: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in fields.items() if v not in (None, False))


def _diff(changes: dict[str, dict[str, Any]]) -> str:
    return "; ".join(f"{k}: {c['from']} → {c['to']}" for k, c in changes.items())


def _usage(usage: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in usage.items()) or "unused"


def render_plan(plan: dict[str, Any], *, dry_run: bool) -> str:
    """The plan (or what was done) as one table and a headline."""
    rows: list[tuple[str, str, str]] = []
    rows += [("create", c["model"], _fields(c["fields"])) for c in plan["created"]]
    rows += [("update", u["model"], _diff(u["changes"])) for u in plan["updated"]]
    rows += [
        ("deprecate", d["model"], f"replacement {d['replacement'] or '-'}")
        for d in plan["deprecated"]
    ]
    rows += [("undeprecate", u["model"], "") for u in plan["undeprecated"]]
    rows += [
        (
            "delete",
            d["model"],
            f"replacement {d['replacement'] or '-'}; live usage: {_usage(d['usage'])}",
        )
        for d in plan["deleted"]
    ]
    rows += [("already deleted", a["model"], a["state"]) for a in plan["already_deleted"]]
    rows += [("unmanaged", u["model"], "not in the catalog; left alone") for u in plan["unmanaged"]]
    verb = "dry run, nothing changed" if dry_run else "applied"
    headline = (
        f"catalog sync {verb}: {len(plan['created'])} created, {len(plan['updated'])} updated, "
        f"{len(plan['deprecated'])} deprecated, {len(plan['undeprecated'])} undeprecated, "
        f"{len(plan['deleted'])} to delete, {len(plan['unmanaged'])} unmanaged, "
        f"{plan['unchanged']} unchanged"
    )
    return (table(["action", "model", "details"], rows) + "\n" if rows else "") + headline


async def _prune_check(settings: Settings, raw: dict[str, Any], path: Path) -> dict[str, Any]:
    try:
        deleted = parse_deleted_entries(raw)
    except CatalogError as exc:
        raise UsageError(_errors_message(path, exc)) from exc
    async with local_runtime(settings) as runtime, runtime.sessions() as session:
        return await prune_check(session, deleted)


def cmd_prune_check(args: argparse.Namespace, settings: Settings) -> int:
    raw = read_catalog(args.file)
    result = asyncio.run(_prune_check(settings, raw, args.file))
    if args.json:
        print_json(result)
        return EXIT_OK
    rows = [
        (s["model"], "safe to remove", f"deleted {s['deleted_at']:%Y-%m-%d}")
        for s in result["safe"]
    ]
    rows += [(k["model"], "keep", k["reason"]) for k in result["keep"]]
    if rows:
        print(table(["model", "verdict", "detail"], rows))
    safe, keep = len(result["safe"]), len(result["keep"])
    print(f"{safe} [[deleted]] entries safe to remove from the file, {keep} to keep")
    return EXIT_OK
