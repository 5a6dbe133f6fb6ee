"""Recording runs in ``lifecycle_runs``.

A successful run writes its row inside its own unit of work (one commit for the changes
and their report); a run that fails or is refused gets a row of its own afterwards, so
it stays visible although its transaction rolled back.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

from db.json_values import to_json_types
from db.queries.audit import finish_run, start_run
from jobs.runtime import Runtime

log = logging.getLogger("lifecycle.runs")


def utc_today() -> date:
    """Today's date in UTC: every deprecation date is compared with this."""
    return datetime.now(UTC).date()


async def record_unsuccessful_run(
    runtime: Runtime, job: str, trigger: str, status: str, summary: dict[str, Any]
) -> None:
    """Record a failed or refused run; never masks the error that ended it."""
    try:
        async with runtime.sessions() as session, session.begin():
            run_id = await start_run(
                session, job, job_id=runtime.job_id, trigger=trigger, dry_run=False
            )
            await finish_run(session, run_id, status=status, summary=to_json_types(summary))
    except Exception:
        log.exception("could not record the %s run of %s", status, job)
