"""Notification fan-out from the outbox, and the sweeper that makes sure it happens.

``fanout_event`` writes one notification per (affected team, member holding the
configured permission). Teams are processed in chunks of ``fanout_team_chunk``, one
``INSERT … SELECT … ON CONFLICT DO NOTHING`` per chunk, each chunk in its own transaction
that first row-locks the event: a crash mid-way keeps what was written, a re-run (or a
second worker on the same event) inserts only what is missing, and ``fanned_out_at`` is
set in the transaction of the last chunk.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId, parse_host_id
from db.models import LifecycleEvent
from db.queries.keys import user_key_type
from db.queries.models import get_model
from db.queries.notifications import (
    TeamMessage,
    get_event,
    insert_team_notifications,
    lock_event,
    mark_fanned_out,
    take_pending_events,
    team_names,
)
from db.queries.recipients import TeamRecipients, team_recipients
from db.queries.references import recent_history_by_team
from db.queries.requests import get_request
from jobs.channels import configured_channels
from jobs.channels.base import TeamInfo, TeamUsage
from jobs.channels.email import NAME as EMAIL
from jobs.config import JobConfig
from jobs.deliveries import publish_deliveries, write_deliveries
from jobs.errors import InvalidPayload
from jobs.events import FANOUT_JOB, publish_events, request_of_event
from jobs.notification_text import (
    HISTORY_DAYS,
    EventFacts,
    Message,
    UnknownSlug,
    level_for,
    render_message,
)
from jobs.runtime import Runtime
from jobs.spec import CronSpec, EmptyPayload, JobSpec, Payload

log = logging.getLogger("lifecycle.notifications")

SWEEP_MIN_AGE_SECONDS = 60.0
SWEEP_RETRY_AFTER_SECONDS = 3600.0
SWEEP_LIMIT = 1000
# Skipped recipient rows named in a fan-out's result and log line (the rest are counted).
SKIPS_SHOWN = 20
T = TypeVar("T")


class FanoutPayload(Payload):
    event_id: uuid.UUID


def team_chunks(messages: list[T], size: int) -> list[list[T]]:
    """``messages`` cut into consecutive chunks of at most ``size`` teams."""
    return [messages[i : i + size] for i in range(0, len(messages), size)]


def affected_teams(payload: dict[str, dict[str, int]]) -> list[tuple[HostId, dict[str, int]]]:
    """Teams of an event payload with at least one affected row, sorted by id.

    Keys that are not team UUIDs are skipped (and logged): they can name no team.
    """
    teams = []
    for key, counts in payload.items():
        try:
            team_id = parse_host_id(key)
        except ValueError:
            log.warning("event payload key %r is not a team id; skipped", key)
            continue
        if isinstance(counts, dict) and any(int(n) > 0 for n in counts.values()):
            teams.append((team_id, counts))
    return sorted(teams, key=lambda t: t[0])


async def _source_kept(session: AsyncSession, event: LifecycleEvent) -> bool:
    """Whether the event's request moved some teams' rows and left its source live for
    the others (a team-scoped request that did not retire it)."""
    request_id = request_of_event(event.slug, event.dedup_key)
    if request_id is None:
        return False
    request = await get_request(session, request_id=request_id)
    return request is not None and request.source_retired is False


async def fanout_event(runtime: Runtime, payload: FanoutPayload) -> dict[str, Any]:
    """Notify every permitted member of every affected team of one event, exactly once."""
    event_id = payload.event_id
    async with runtime.sessions() as session:
        event = await get_event(session, event_id)
    if event is None:
        raise InvalidPayload(f"fanout_event: no lifecycle event {event_id}")
    result: dict[str, Any] = {"event_id": str(event_id), "slug": event.slug}
    if event.fanned_out_at is not None:
        return {**result, "status": "already_fanned_out", "notifications": 0}

    try:
        level = level_for(event.slug)
    except UnknownSlug as exc:
        raise InvalidPayload(f"fanout_event: event {event_id}: {exc}") from exc
    teams = affected_teams(event.payload)
    async with runtime.sessions() as session:
        history = (
            await recent_history_by_team(
                session, event.model_id, HISTORY_DAYS, runtime.platform.history()
            )
            if event.model_id is not None
            else {}
        )
        names = await team_names(session, runtime.platform, [team_id for team_id, _ in teams])
        model = await get_model(session, event.model_id) if event.model_id is not None else None
        kept = await _source_kept(session, event)
    facts = EventFacts(
        event_id=event.id,
        slug=event.slug,
        model_id=event.model_id,
        model_provider=event.model_provider,
        model_name=event.model_name,
        replacement_provider=event.replacement_provider,
        replacement_model_name=event.replacement_model_name,
        deprecation_date=event.deprecation_date,
        suggested_provider=event.suggested_provider,
        suggested_model_name=event.suggested_model_name,
        model_team_id=model.team_id if model is not None else None,
        source_kept=kept,
    )
    label_order = runtime.platform.label_order()
    rendered: list[tuple[TeamInfo, Message]] = []
    for team_id, counts in teams:
        slug, name = names.get(team_id, (None, None))
        message = render_message(
            facts,
            team_id,
            counts,
            history.get(str(team_id)),
            label_order=label_order,
            parameters=runtime.platform.parameter_modes(),
        )
        rendered.append((TeamInfo(team_id, slug, name), message))
    event_wide = [
        TeamUsage(info.slug or str(info.id), m.data["counts"], m.data["recent_history"])
        for info, m in rendered
    ]

    chunks = team_chunks(rendered, runtime.settings.fanout_team_chunk) or [[]]
    inserted = deliveries = 0
    emailing = any(c.name == EMAIL for c in configured_channels(runtime.settings))
    skips = SkipReport(email=emailing)
    for number, chunk in enumerate(chunks, start=1):
        async with runtime.sessions() as session, session.begin():
            exists, done = await lock_event(session, event_id)
            if not exists or done:
                # Another worker finished this event while we were on earlier chunks
                # (or the event was deleted meanwhile).
                status = "already_fanned_out" if exists else "event_deleted"
                return {**result, "status": status, "notifications": inserted}
            last = number == len(chunks)
            recipients = await team_recipients(
                session,
                runtime.platform,
                [t.id for t, _ in chunk],
                runtime.settings.notification_permission,
                user_key=await user_key_type(session),
            )
            inserted += await insert_team_notifications(
                session,
                runtime.platform,
                event_id=event_id,
                slug=event.slug,
                level=level,
                messages=[TeamMessage(t.id, m.title, m.body, m.data) for t, m in chunk],
                recipients=recipients.all(),
            )
            deliveries += await write_deliveries(
                session, runtime, facts, chunk, recipients, event_wide=event_wide if last else None
            )
            if last:
                await mark_fanned_out(session, event_id)
        skips.add(recipients)
    if deliveries:
        await publish_deliveries(runtime, event_id)
    log.info(
        "event %s (%s): %d notification(s), %d delivery(ies) for %d team(s)",
        event_id,
        event.slug,
        inserted,
        deliveries,
        len(rendered),
    )
    if skips.lines:
        log.warning(
            "event %s (%s): %s: %s",
            event_id,
            event.slug,
            skips.summary(),
            "; ".join(skips.lines[:SKIPS_SHOWN]),
        )
    return {
        **result,
        "status": "fanned_out",
        "teams": len(rendered),
        "chunks": len(chunks),
        "notifications": inserted,
        "deliveries": deliveries,
        **skips.report(),
    }


@dataclass
class SkipReport:
    """What the recipients query's rows could not do: (with email on) recipients told
    in-app only for want of an address, and rows that told nobody."""

    email: bool
    not_emailed: list[str] = field(default_factory=list)
    rows_skipped: list[str] = field(default_factory=list)

    def add(self, recipients: TeamRecipients) -> None:
        if self.email:
            self.not_emailed += [
                f"user {r.user_id} of team {r.team_id}: {r.no_email}; told in-app only"
                for r in recipients.all()
                if r.no_email is not None
            ]
        self.rows_skipped += [str(s) for s in recipients.skipped]

    @property
    def lines(self) -> list[str]:
        """People first (those not emailed), then rows that named nobody to tell."""
        return self.not_emailed + self.rows_skipped

    def summary(self) -> str:
        return (
            f"{len(self.rows_skipped)} row(s) of the recipients query skipped, "
            f"{len(self.not_emailed)} recipient(s) not emailed"
        )

    def report(self) -> dict[str, Any]:
        """The job result's part: counts and the first reasons (results stay small)."""
        if not self.lines:
            return {}
        return {
            "recipient_rows_skipped": len(self.rows_skipped),
            "emails_not_sent": len(self.not_emailed),
            "skipped": self.lines[:SKIPS_SHOWN],
        }


def sweep_key(event_id: uuid.UUID, age_seconds: float, retry_after_seconds: float) -> str:
    """Idempotency key for re-enqueuing a pending event.

    While the event is young the key is the event id, the same one ``publish_events``
    uses, so an event that is merely waiting in the queue is not queued twice. ARQ keeps
    a finished job's result (and so its id) for days; an event still pending after
    ``retry_after_seconds`` (its fan-out failed for good) gets a new key once per period.
    """
    if age_seconds < retry_after_seconds:
        return str(event_id)
    return f"{event_id}:retry-{int(age_seconds // retry_after_seconds)}"


async def sweep_outbox(
    runtime: Runtime,
    payload: EmptyPayload,
    *,
    min_age_seconds: float = SWEEP_MIN_AGE_SECONDS,
    retry_after_seconds: float = SWEEP_RETRY_AFTER_SECONDS,
    limit: int = SWEEP_LIMIT,
) -> dict[str, Any]:
    """Re-enqueue fan-out of events older than ``min_age_seconds`` that were never fanned out.

    At most ``limit`` a sweep, the least recently swept first (see ``take_pending_events``).
    """
    async with runtime.sessions() as session, session.begin():
        pending = await take_pending_events(session, min_age_seconds=min_age_seconds, limit=limit)
    for event in pending:
        key = sweep_key(event.event_id, event.age_seconds, retry_after_seconds)
        if key == str(event.event_id):
            await publish_events(runtime, [event.event_id])
        else:
            await runtime.enqueue(FANOUT_JOB, {"event_id": str(event.event_id)}, key)
    if pending:
        log.info("outbox sweep re-enqueued %d event(s)", len(pending))
    return {"enqueued": len(pending), "event_ids": [str(p.event_id) for p in pending]}


def _every_minute(settings: JobConfig) -> dict[str, Any]:
    return {"second": 0}


JOBS = (
    JobSpec(FANOUT_JOB, FanoutPayload, fanout_event),
    JobSpec("sweep_outbox", EmptyPayload, sweep_outbox),
)
CRONS = (CronSpec("sweep_outbox", _every_minute),)
