"""Tables owned by the worker: requests, the outbox, notifications, audit and runs."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from db.keys import HostId, HostKey
from db.models.base import Base, created_at, uuid_pk
from db.schema_layout import WORKER_SCHEMA

# Every table here lives in the worker's own schema (translated to LIFECYCLE_SCHEMA).
IN_WORKER_SCHEMA = {"schema": WORKER_SCHEMA}

MIGRATION_KINDS = ("migration", "deletion")


class RequestStatus(StrEnum):
    """Where a migration or deletion request stands (``model_migrations.status``)."""

    PENDING = "pending"  # admitted (or resumed), waiting for its job to run it
    RUNNING = "running"
    PAUSED = "paused"  # stopped after a batch by an operator; still holds its source
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"  # stopped for good by an operator; its source is free
    UNDONE = "undone"  # put back by undo_request


MIGRATION_STATUSES = tuple(s.value for s in RequestStatus)
# A request in one of these holds its source: at most one per source model.
ACTIVE_MIGRATION_STATUSES = tuple(
    s.value for s in (RequestStatus.PENDING, RequestStatus.RUNNING, RequestStatus.PAUSED)
)
NOTIFICATION_LEVELS = ("info", "warning", "error")
RUN_TRIGGERS = ("cron", "manual", "catch_up")
DELIVERY_STATUSES = ("pending", "delivered", "failed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _jsonb(default: str) -> Mapped[Any]:
    return mapped_column(JSONB, nullable=False, server_default=text(f"'{default}'::jsonb"))


def _model_snapshot_fk() -> Mapped[Any]:
    # The foreign key exists on the reference platform only (migrations leave it out on a
    # mapped host); the column holds the host's model key, whatever its type.
    return mapped_column(HostKey, ForeignKey("llm_models.id", ondelete="SET NULL"), index=True)


class ModelMigration(Base):
    __tablename__ = "model_migrations"
    __table_args__ = (
        CheckConstraint(_in("kind", MIGRATION_KINDS), name="kind"),
        CheckConstraint(_in("status", MIGRATION_STATUSES), name="status"),
        # At most one active (pending, running or paused) request per source model.
        Index(
            "uq_model_migrations_active_source",
            "from_model_id",
            unique=True,
            postgresql_where=text(_in("status", ACTIVE_MIGRATION_STATUSES)),
        ),
        IN_WORKER_SCHEMA,
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    request_key: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    from_model_id: Mapped[HostId | None] = _model_snapshot_fk()
    to_model_id: Mapped[HostId | None] = _model_snapshot_fk()
    from_provider: Mapped[str | None] = mapped_column(Text)
    from_model_name: Mapped[str | None] = mapped_column(Text)
    to_provider: Mapped[str | None] = mapped_column(Text)
    to_model_name: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'pending'"))
    requested_by: Mapped[str | None] = mapped_column(Text)
    warnings: Mapped[list[str]] = _jsonb("[]")
    counts: Mapped[dict[str, int]] = _jsonb("{}")
    # The whole request's facts: phase, final sweep, pointers moved, undo state (its rows
    # planned and done and its cursor per reference are in ``model_migration_progress``).
    progress: Mapped[dict[str, Any]] = _jsonb("{}")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the latest run began (the first start, a job's retry, or a resume): rows per
    # second are measured over it, and a resumed request is not "stuck" before it starts.
    run_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # How often an operator resumed it (names each resume's job, so a repeated resume
    # queues it once).
    resumes: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    # The ids (as text) of the teams the request covers; ``None``: every team.
    teams: Mapped[list[str] | None] = mapped_column(JSONB)
    # Whether the finished request marked its source migrated or deleted.
    source_retired: Mapped[bool | None] = mapped_column(Boolean)
    # Whether its changes are journaled (``request_journal``): only then can it be undone.
    journaled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))


class ModelMigrationBatch(Base):
    """One committed batch of a request: rows changed per team (worker-internal).

    Written by the same statement that moves the batch, so a request's counts stay exact
    when it is resumed after a crash.
    """

    __tablename__ = "model_migration_batches"
    __table_args__ = (IN_WORKER_SCHEMA,)

    id: Mapped[uuid.UUID] = uuid_pk()
    migration_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey(f"{WORKER_SCHEMA}.model_migrations.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    label: Mapped[str] = mapped_column(Text, nullable=False)
    rows: Mapped[int] = mapped_column(Integer, nullable=False)
    # {team_id or "": rows}
    teams: Mapped[dict[str, int]] = _jsonb("{}")
    created_at: Mapped[datetime] = created_at()


class ModelMigrationProgress(Base):
    """How far a request has come on one reference: rows planned and done, batches, cursor.

    Planned at admission; each batch adds its rows and its keyset cursor in the batch's own
    transaction, so a resumed request carries on after the last committed batch. The
    whole-request facts (phase, sweep, pointers, undo) stay in ``model_migrations.progress``.
    """

    __tablename__ = "model_migration_progress"
    __table_args__ = (IN_WORKER_SCHEMA,)

    migration_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey(f"{WORKER_SCHEMA}.model_migrations.id", ondelete="CASCADE"),
        primary_key=True,
    )
    label: Mapped[str] = mapped_column(Text, primary_key=True)
    # Rows the admission's plan counted (``None``: a reference the plan did not count).
    planned: Mapped[int | None] = mapped_column(BigInteger)
    done: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    # The key of the last row the last committed batch selected, as text (parse_host_id).
    cursor: Mapped[str | None] = mapped_column(Text)
    batches: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))


class RequestJournalBatch(Base):
    """The host rows one statement of a request changed (a batch or the final sweep's),
    as they were and as the request left them.

    Written by the statement that changes the rows, read by ``undo_request``. Entry ``i``
    is the row whose key (in its canonical text) is ``row_keys[i]``, with
    ``old_values[i]``/``new_values[i]``: the changed columns by name, but for a column
    reference's model column, which held the source and holds the target (a link row:
    the old values are the deleted row, the new ones say whether the request inserted
    the target's link). Both arrays are ``NULL`` where the undo knows every changed
    column (a plain column reference). One row per statement, not per host row: a batch
    of 5,000 rows writes one journal row and one index entry.

    ``migration_id`` has no foreign key: the batch already holds the request row locked
    (requests are never deleted).
    """

    __tablename__ = "request_journal"
    __table_args__ = (
        Index("ix_request_journal_migration_label", "migration_id", "label", "id"),
        IN_WORKER_SCHEMA,
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    migration_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    label: Mapped[str] = mapped_column(Text, nullable=False)
    row_keys: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    old_values: Mapped[list[Any] | None] = mapped_column(ARRAY(JSONB))
    new_values: Mapped[list[Any] | None] = mapped_column(ARRAY(JSONB))


class LifecycleEvent(Base):
    __tablename__ = "lifecycle_events"
    __table_args__ = (
        Index(
            "ix_lifecycle_events_pending",
            "created_at",
            postgresql_where=text("fanned_out_at IS NULL"),
        ),
        IN_WORKER_SCHEMA,
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    slug: Mapped[str] = mapped_column(Text, nullable=False)
    model_id: Mapped[HostId | None] = _model_snapshot_fk()
    model_provider: Mapped[str] = mapped_column(Text, nullable=False)
    model_name: Mapped[str] = mapped_column(Text, nullable=False)
    replacement_provider: Mapped[str | None] = mapped_column(Text)
    replacement_model_name: Mapped[str | None] = mapped_column(Text)
    deprecation_date: Mapped[date | None] = mapped_column(Date)
    payload: Mapped[dict[str, dict[str, int]]] = _jsonb("{}")
    dedup_key: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    created_at: Mapped[datetime] = created_at()
    fanned_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A successor suggested by litellm's cost map: shown to people, never migrated to.
    suggested_provider: Mapped[str | None] = mapped_column(Text)
    suggested_model_name: Mapped[str | None] = mapped_column(Text)
    # When the outbox sweeper last re-enqueued it: the sweep takes never-swept events
    # first, then the least recently swept, so events that keep failing hide no others.
    swept_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("event_id", "team_id", "user_id"),
        CheckConstraint(_in("level", NOTIFICATION_LEVELS), name="level"),
        Index(None, "team_id", "created_at"),
        Index(None, "user_id"),
        IN_WORKER_SCHEMA,
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    event_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey(f"{WORKER_SCHEMA}.lifecycle_events.id", ondelete="CASCADE"),
        nullable=False,
    )
    team_id: Mapped[HostId] = mapped_column(HostKey, nullable=False)
    user_id: Mapped[HostId] = mapped_column(
        HostKey, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    slug: Mapped[str] = mapped_column(Text, nullable=False)
    level: Mapped[str] = mapped_column(Text, nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    data: Mapped[dict[str, Any]] = _jsonb("{}")
    created_at: Mapped[datetime] = created_at()
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index(None, "model_id"),
        Index(None, "action", "created_at"),
        IN_WORKER_SCHEMA,
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    action: Mapped[str] = mapped_column(Text, nullable=False)
    actor: Mapped[str | None] = mapped_column(Text)
    model_id: Mapped[HostId | None] = mapped_column(HostKey)
    details: Mapped[dict[str, Any]] = _jsonb("{}")
    created_at: Mapped[datetime] = created_at()


class LifecycleRun(Base):
    __tablename__ = "lifecycle_runs"
    __table_args__ = (
        CheckConstraint(_in("trigger", RUN_TRIGGERS), name="trigger"),
        Index(None, "job", "started_at"),
        IN_WORKER_SCHEMA,
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    job: Mapped[str] = mapped_column(Text, nullable=False)
    job_id: Mapped[str | None] = mapped_column(Text)
    trigger: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    dry_run: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    started_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    summary: Mapped[dict[str, Any]] = _jsonb("{}")


class Delivery(Base):
    """One message to send on a channel: a webhook call per (event, team), a Slack
    message per event, an email per (event, team, recipient).

    Written in the transaction that writes the event's notifications, sent by the
    ``send_deliveries`` job. ``target`` is what an operator may see: the email address,
    or the scheme and host of a webhook (never its path, query or credentials).
    ``channel`` names a module of the worker's channel registry (``jobs.channels``).
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint(_in("status", DELIVERY_STATUSES), name="status"),
        Index(
            "uq_deliveries_event_channel_team_user",
            "event_id",
            "channel",
            "team_id",
            "user_id",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
        # The sender's queue: pending rows in the order they fall due.
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_deliveries_failed",
            "created_at",
            postgresql_where=text("status = 'failed'"),
        ),
        IN_WORKER_SCHEMA,
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    event_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey(f"{WORKER_SCHEMA}.lifecycle_events.id", ondelete="CASCADE"),
        nullable=False,
    )
    channel: Mapped[str] = mapped_column(Text, nullable=False)
    team_id: Mapped[HostId | None] = mapped_column(HostKey)
    user_id: Mapped[HostId | None] = mapped_column(HostKey)
    target: Mapped[str] = mapped_column(Text, nullable=False)
    payload: Mapped[dict[str, Any]] = _jsonb("{}")
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = created_at()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ModelState(Base):
    """Lifecycle state of a host model that the host keeps no column for (migration 0006).

    Keyed by the host's model id; read and written through the ``models`` view only.
    """

    __tablename__ = "model_state"
    __table_args__ = (IN_WORKER_SCHEMA,)

    model_id: Mapped[HostId] = mapped_column(HostKey, primary_key=True)
    deprecated: Mapped[bool | None] = mapped_column(Boolean)
    deprecation_date: Mapped[date | None] = mapped_column(Date)
    deprecation_source: Mapped[str | None] = mapped_column(Text)
    replacement_model_id: Mapped[HostId | None] = mapped_column(HostKey, index=True)
    migrated_to_model_id: Mapped[HostId | None] = mapped_column(HostKey, index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()")
    )
