"""``lifecycle enrich [--dry-run]``: deprecation dates from litellm's cost map, now."""

from __future__ import annotations

import argparse
from typing import Any

from jobs.deprecation import JOB, EnrichPayload, enrich_deprecations
from worker.cli.common import add_wait_options, run_now
from worker.cli.output import EXIT_OK, table
from worker.settings import Settings


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "enrich",
        parents=[common],
        help="read deprecation dates from litellm's cost map (the daily run, now)",
        description=(
            "Matches every model in service against litellm's bundled cost map (or "
            "LIFECYCLE_COST_MAP_SOURCE), stores deprecation dates, flags models whose date "
            "has passed and announces retiring ones. The real run is queued for a worker "
            "and waited for; --dry-run reports in-process and changes nothing."
        ),
    )
    p.add_argument(
        "--dry-run", action="store_true", help="report what would change (no worker needed)"
    )
    add_wait_options(p)
    p.set_defaults(handler=cmd_enrich)


def cmd_enrich(args: argparse.Namespace, settings: Settings) -> int:
    run_now(
        args,
        settings,
        job=JOB,
        payload=EnrichPayload(trigger="manual"),
        run=enrich_deprecations,
        render=render_report,
    )
    return EXIT_OK


def _suggested(item: dict[str, Any]) -> str:
    suggested = item.get("suggested")
    return f"; suggested successor {suggested} (not applied)" if suggested else ""


def render_report(report: dict[str, Any]) -> str:
    """One table of everything that needs a person's eye, then a headline."""
    rows: list[tuple[str, str, str]] = []
    rows += [
        ("deprecated", n["model"], f"date {n['date']} passed" + _suggested(n))
        for n in report["newly_deprecated"]
    ]
    rows += [
        ("retiring", r["model"], f"on {r['date']} ({r['days_left']} days)" + _suggested(r))
        for r in report["retiring"]
    ]
    rows += [
        ("reminder", r["model"], f"{r['milestone']}-day reminder for {r['date']}")
        for r in report.get("reminders", [])
    ]
    rows += [
        ("date set", d["model"], f"{d['from'] or '-'} → {d['to']}") for d in report["dates_set"]
    ]
    rows += [
        ("invalid date", i["model"], f"{i['key']}: {i['value']!r}") for i in report["invalid_dates"]
    ]
    others = {o["model"]: o["reason"] for o in report["other_provider"]}
    kept = {k["model"]: f"; keeps its stored date {k['date']}" for k in report["kept"]}
    rows += [
        ("unmatched", name, others.get(name, "no entry") + kept.get(name, ""))
        for name in report["unmatched"]
    ]
    source = report["source"]
    kind = "dry run, nothing changed" if report.get("dry_run") else "applied"
    headline = (
        f"enrichment {kind}: {report['matched']} matched, {len(report['unmatched'])} unmatched, "
        f"{len(report['newly_deprecated'])} newly deprecated, {len(report['retiring'])} retiring, "
        f"{len(report['invalid_dates'])} invalid dates, {report['unchanged']} unchanged "
        f"(map: {source['origin']}, {source['entries']} entries)"
    )
    if "events" in report:
        headline += f"; {report['events']} event(s) emitted"
    if source.get("warning"):
        headline += f"\nwarning: {source['warning']}"
    return (table(["status", "model", "detail"], rows) + "\n" if rows else "") + headline
