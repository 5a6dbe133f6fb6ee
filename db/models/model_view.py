"""The ``models`` view: every platform's model table under one set of names.

Jobs read and write models through this view only (see ``db/platform/model_view.py``,
which generates it from the platform mapping). It is not part of ``Base.metadata``: the
migrations do not create it, ``db upgrade`` builds it after them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, FetchedValue, Integer, MetaData, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.keys import HostId, HostKey
from db.schema_layout import WORKER_SCHEMA


class ViewBase(DeclarativeBase):
    """Declarative base of the worker's views (kept out of the migrations' metadata)."""

    metadata = MetaData()


class LlmModel(ViewBase):
    """A host's model row, with its lifecycle state, whatever table and keys it has."""

    __tablename__ = "models"
    __table_args__ = {"schema": WORKER_SCHEMA}  # noqa: RUF012

    # Assigned by the host on insert (its identity or default), returned by the view.
    id: Mapped[HostId] = mapped_column(HostKey, primary_key=True, server_default=FetchedValue())
    provider: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    display_name: Mapped[str] = mapped_column(Text)
    team_id: Mapped[HostId | None] = mapped_column(HostKey)
    litellm_model: Mapped[str | None] = mapped_column(Text)
    token_limit: Mapped[int] = mapped_column(Integer)
    supports_vision: Mapped[bool] = mapped_column(Boolean)
    supports_tools: Mapped[bool] = mapped_column(Boolean)
    supports_reasoning: Mapped[bool] = mapped_column(Boolean)
    security_level: Mapped[int | None] = mapped_column(Integer)
    deprecated: Mapped[bool] = mapped_column(Boolean)
    deprecation_date: Mapped[date | None] = mapped_column(Date)
    deprecation_source: Mapped[str | None] = mapped_column(Text)
    replacement_model_id: Mapped[HostId | None] = mapped_column(HostKey)
    migrated_to_model_id: Mapped[HostId | None] = mapped_column(HostKey)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
