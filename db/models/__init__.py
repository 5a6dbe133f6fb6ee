"""SQLAlchemy models of every table in the schema (docs/contract.md)."""

from db.models.base import Base
from db.models.lifecycle import (
    AuditEvent,
    Delivery,
    LifecycleEvent,
    LifecycleRun,
    ModelMigration,
    ModelMigrationBatch,
    ModelMigrationProgress,
    ModelState,
    Notification,
    RequestJournalBatch,
)
from db.models.model_view import LlmModel
from db.models.platform import (
    App,
    AppRun,
    Assistant,
    LlmModelTable,
    Pipeline,
    Question,
    Service,
    Space,
    SpaceModel,
    Team,
    TeamMember,
    Template,
    User,
)

__all__ = [
    "App",
    "AppRun",
    "Assistant",
    "AuditEvent",
    "Base",
    "Delivery",
    "LifecycleEvent",
    "LifecycleRun",
    "LlmModel",
    "LlmModelTable",
    "ModelMigration",
    "ModelMigrationBatch",
    "ModelMigrationProgress",
    "ModelState",
    "Notification",
    "Pipeline",
    "Question",
    "RequestJournalBatch",
    "Service",
    "Space",
    "SpaceModel",
    "Team",
    "TeamMember",
    "Template",
    "User",
]
