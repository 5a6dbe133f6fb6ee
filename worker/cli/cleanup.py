"""``lifecycle cleanup [--dry-run]``: run the weekly hard-delete of retired models now."""

from __future__ import annotations

import argparse
from typing import Any

from db.queries.cleanup import CLEANUP_JOB
from jobs.cleanup import CleanupPayload, cleanup_retired_models
from worker.cli.common import add_wait_options, run_now
from worker.cli.output import EXIT_FAILED, EXIT_OK, table
from worker.settings import Settings


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "cleanup",
        parents=[common],
        help="hard-delete retired models nothing refers to any more (the weekly run, now)",
        description=(
            "Removes soft-deleted or migrated models that no history row, no live reference "
            "and no other model's migration points at. The real run is queued for a worker "
            "and waited for; --dry-run reports in-process what it would remove. "
            "Exit 1 if any model failed with an error."
        ),
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="report what a run would remove and change nothing (runs here, no worker needed)",
    )
    add_wait_options(p)
    p.set_defaults(handler=cmd_cleanup)


def cmd_cleanup(args: argparse.Namespace, settings: Settings) -> int:
    report = run_now(
        args,
        settings,
        job=CLEANUP_JOB,
        payload=CleanupPayload(),
        run=cleanup_retired_models,
        render=render_report,
    )
    return EXIT_FAILED if report and report.get("errors") else EXIT_OK


def render_report(report: dict[str, Any]) -> str:
    """The run's report as a headline and one table per outcome."""
    kind = "dry run (nothing changed)" if report.get("dry_run") else "run"
    if report.get("mode") == "report":
        kind = "report-only run (LIFECYCLE_CLEANUP_MODE=report: nothing deleted)"
    verb = "would remove" if report.get("dry_run") else "removed"
    lines = [
        f"cleanup {kind} {report.get('run_id', '')}: {len(report['removed'])} {verb}, "
        f"{len(report['skipped'])} skipped, {len(report['errors'])} errors, "
        f"{report['deferred']} deferred to the next run, {report['duration_s']:.2f}s"
    ]
    if report.get("already_ran"):
        lines.append("(this scheduled run had already finished; its report is shown)")
    if report["removed"]:
        lines += ["", verb]
        lines.append(
            table(
                ["provider", "name", "model_id", "repointed"],
                [
                    (r["provider"], r["name"], r["model_id"], _counts(r.get("repointed")))
                    for r in report["removed"]
                ],
            )
        )
    if report["skipped"]:
        lines += ["", "skipped"]
        lines.append(
            table(
                ["provider", "name", "model_id", "reason", "detail"],
                [
                    (s["provider"], s["name"], s["model_id"], s["reason"], _detail(s))
                    for s in report["skipped"]
                ],
            )
        )
    if report["errors"]:
        lines += ["", "errors"]
        lines.append(
            table(
                ["provider", "name", "model_id", "error"],
                [(e["provider"], e["name"], e["model_id"], e["error"]) for e in report["errors"]],
            )
        )
    return "\n".join(lines)


def _counts(counts: dict[str, int] | None) -> str:
    return ", ".join(f"{label}: {n}" for label, n in (counts or {}).items())


def _detail(skip: dict[str, Any]) -> str:
    if skip.get("labels"):
        return ", ".join(skip["labels"])
    if skip.get("models"):
        return "migrated here: " + ", ".join(str(m) for m in skip["models"])
    if skip.get("retry"):
        return f"row held by another transaction; tried again {skip['retry']}"
    return str(skip.get("constraint") or "")
