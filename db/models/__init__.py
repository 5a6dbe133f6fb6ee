"""SQLAlchemy models of every table in the schema (DESIGN section 2)."""

from db.models.base import Base
from db.models.lifecycle import (
    AuditEvent,
    Delivery,
    LifecycleEvent,
    LifecycleRun,
    ModelMigration,
    ModelMigrationBatch,
    Notification,
)
from db.models.platform import (
    App,
    AppRun,
    Assistant,
    LlmModel,
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
    "ModelMigration",
    "ModelMigrationBatch",
    "Notification",
    "Pipeline",
    "Question",
    "Service",
    "Space",
    "SpaceModel",
    "Team",
    "TeamMember",
    "Template",
    "User",
]
