"""The audit trail and the run log."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId
from db.models import AuditEvent, LifecycleRun


async def record_audit(
    session: AsyncSession,
    action: str,
    *,
    actor: str | None,
    model_id: HostId | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit event (``model.migrated``, ``catalog.synced``, …)."""
    await session.execute(
        insert(AuditEvent).values(
            action=action, actor=actor, model_id=model_id, details=details or {}
        )
    )


async def model_name_from_audit(session: AsyncSession, model_id: HostId) -> tuple[str, str] | None:
    """(provider, name) recorded for ``model_id`` by any audit event (the row may be gone)."""
    details = await session.scalar(
        select(AuditEvent.details)
        .where(AuditEvent.model_id == model_id, AuditEvent.details.has_key("provider"))
        .order_by(AuditEvent.created_at.desc())
        .limit(1)
    )
    if not details or not details.get("name"):
        return None
    return str(details["provider"]), str(details["name"])


async def start_run(
    session: AsyncSession, job: str, *, job_id: str | None, trigger: str, dry_run: bool
) -> uuid.UUID:
    """Record the start of an enrichment, catalog sync or cleanup run."""
    run_id: uuid.UUID | None = await session.scalar(
        insert(LifecycleRun)
        .values(job=job, job_id=job_id, trigger=trigger, status="running", dry_run=dry_run)
        .returning(LifecycleRun.id)
    )
    assert run_id is not None
    return run_id


async def finish_run(
    session: AsyncSession, run_id: uuid.UUID, *, status: str, summary: dict[str, Any]
) -> None:
    """Store a run's outcome and report."""
    await session.execute(
        update(LifecycleRun)
        .where(LifecycleRun.id == run_id)
        .values(status=status, summary=summary, finished_at=func.now())
    )


async def run_summary(session: AsyncSession, run_id: uuid.UUID) -> dict[str, Any] | None:
    """The report stored with run ``run_id`` (``None``: no such run)."""
    summary: dict[str, Any] | None = await session.scalar(
        select(LifecycleRun.summary).where(LifecycleRun.id == run_id)
    )
    return summary
