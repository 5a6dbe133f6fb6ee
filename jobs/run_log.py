"""Recording a run in ``lifecycle_runs`` around its own unit of work."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, date, datetime
from typing import Any

from db.queries.audit import finish_run, start_run
from jobs.runtime import Runtime
from worker.serialization import serialize

log = logging.getLogger("lifecycle.runs")


def as_json(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` with UUIDs and dates turned into strings, ready for a ``jsonb`` column."""
    converted: dict[str, Any] = json.loads(serialize({"v": value}))["v"]
    return converted


def utc_today() -> date:
    """Today's date in UTC: every deprecation date is compared with this."""
    return datetime.now(UTC).date()


async def open_run(runtime: Runtime, job: str, trigger: str) -> uuid.UUID:
    """Record a run as ``running`` in its own transaction, so a failure stays visible."""
    async with runtime.sessions() as session, session.begin():
        return await start_run(session, job, job_id=runtime.job_id, trigger=trigger, dry_run=False)


async def close_run(
    runtime: Runtime, run_id: uuid.UUID, status: str, summary: dict[str, Any]
) -> None:
    """Mark a run that did not succeed; never masks the error that ended it."""
    try:
        async with runtime.sessions() as session, session.begin():
            await finish_run(session, run_id, status=status, summary=as_json(summary))
    except Exception:
        log.exception("could not record the end of run %s", run_id)
