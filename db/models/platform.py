"""The main application's tables, as far as the worker needs them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, created_at, uuid_pk

_MODEL_FK = "llm_models.id"


def _team_fk(nullable: bool = False) -> Mapped[Any]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("teams.id", ondelete="CASCADE"), nullable=nullable
    )


def _model_ref(nullable: bool) -> Mapped[Any]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey(_MODEL_FK, ondelete="RESTRICT"), nullable=nullable
    )


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[uuid.UUID] = uuid_pk()
    slug: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = created_at()


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = created_at()


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    )
    permissions: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")
    )


class LlmModelTable(Base):
    """The reference platform's model table (jobs use the ``models`` view, ``LlmModel``)."""

    __tablename__ = "llm_models"
    __table_args__ = (
        Index(
            "uq_llm_models_provider_name_team_live",
            "provider",
            "name",
            "team_id",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    provider: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    display_name: Mapped[str] = mapped_column(Text, nullable=False)
    team_id: Mapped[uuid.UUID | None] = _team_fk(nullable=True)
    litellm_model: Mapped[str | None] = mapped_column(Text)
    token_limit: Mapped[int] = mapped_column(Integer, nullable=False)
    supports_vision: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    supports_tools: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    supports_reasoning: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    security_level: Mapped[int | None] = mapped_column(Integer)
    deprecated: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    deprecation_date: Mapped[date | None] = mapped_column(Date)
    deprecation_source: Mapped[str | None] = mapped_column(Text)
    replacement_model_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey(_MODEL_FK, ondelete="SET NULL"), index=True
    )
    migrated_to_model_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey(_MODEL_FK, ondelete="RESTRICT"), index=True
    )
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class Assistant(Base):
    __tablename__ = "assistants"

    id: Mapped[uuid.UUID] = uuid_pk()
    team_id: Mapped[uuid.UUID] = _team_fk()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    llm_model_id: Mapped[uuid.UUID] = _model_ref(nullable=False)
    model_parameters: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    __table_args__ = (Index(None, "llm_model_id", "id"),)


class App(Base):
    __tablename__ = "apps"

    id: Mapped[uuid.UUID] = uuid_pk()
    team_id: Mapped[uuid.UUID] = _team_fk()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    llm_model_id: Mapped[uuid.UUID | None] = _model_ref(nullable=True)
    __table_args__ = (Index(None, "llm_model_id", "id"),)


class Service(Base):
    __tablename__ = "services"

    id: Mapped[uuid.UUID] = uuid_pk()
    team_id: Mapped[uuid.UUID] = _team_fk()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    llm_model_id: Mapped[uuid.UUID | None] = _model_ref(nullable=True)
    __table_args__ = (Index(None, "llm_model_id", "id"),)


class Template(Base):
    __tablename__ = "templates"

    id: Mapped[uuid.UUID] = uuid_pk()
    team_id: Mapped[uuid.UUID | None] = _team_fk(nullable=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    llm_model_id: Mapped[uuid.UUID | None] = _model_ref(nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index(None, "llm_model_id", "id"),)


class Space(Base):
    __tablename__ = "spaces"

    id: Mapped[uuid.UUID] = uuid_pk()
    team_id: Mapped[uuid.UUID] = _team_fk()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    required_security_level: Mapped[int | None] = mapped_column(Integer)


class SpaceModel(Base):
    __tablename__ = "space_models"

    space_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("spaces.id", ondelete="CASCADE"), primary_key=True
    )
    llm_model_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey(_MODEL_FK, ondelete="RESTRICT"),
        primary_key=True,
        index=True,
    )


class Pipeline(Base):
    __tablename__ = "pipelines"
    __table_args__ = (
        # Serves the containment probe on the canonical (lower-case) document,
        # ``lower(definition::text)::jsonb @> {"nodes":[{"params":{...}}]}``.
        Index(
            "ix_pipelines_definition_lower_path_ops",
            text("CAST(lower(CAST(definition AS text)) AS jsonb) jsonb_path_ops"),
            postgresql_using="gin",
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    team_id: Mapped[uuid.UUID] = _team_fk()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)


class Question(Base):
    __tablename__ = "questions"

    id: Mapped[uuid.UUID] = uuid_pk()
    team_id: Mapped[uuid.UUID] = _team_fk()
    assistant_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("assistants.id", ondelete="SET NULL")
    )
    llm_model_id: Mapped[uuid.UUID] = _model_ref(nullable=False)
    prompt_tokens: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    completion_tokens: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0")
    )
    created_at: Mapped[datetime] = created_at()
    __table_args__ = (Index(None, "llm_model_id"),)


class AppRun(Base):
    __tablename__ = "app_runs"

    id: Mapped[uuid.UUID] = uuid_pk()
    team_id: Mapped[uuid.UUID] = _team_fk()
    app_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("apps.id", ondelete="SET NULL")
    )
    llm_model_id: Mapped[uuid.UUID] = _model_ref(nullable=False)
    created_at: Mapped[datetime] = created_at()
    __table_args__ = (Index(None, "llm_model_id"),)
