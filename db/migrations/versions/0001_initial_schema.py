"""initial schema

The reference platform's tables are built only when no platform mapping is configured;
the worker's own tables go into its schema, their id columns typed like the host's keys
(databases migrated before the worker had a schema of its own get there through 0003).

Revision ID: 0001
Revises:
Create Date: 2026-11-21 05:39:38.650876
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from db.migrate import migration_layout

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    layout = migration_layout()
    if layout.reference_platform:
        _create_reference_platform()
    _create_worker_tables()


def downgrade() -> None:
    layout = migration_layout()
    _drop_worker_tables()
    if layout.reference_platform:
        _drop_reference_platform()


def host_fk(
    columns: list[str], table: str, name: str, ondelete: str
) -> list[sa.ForeignKeyConstraint]:
    """A foreign key into a reference-platform table; none on an adopted host's."""
    layout = migration_layout()
    if not layout.reference_platform:
        return []
    return [
        sa.ForeignKeyConstraint(
            columns, [layout.host_table(f"{table}.id")], name=name, ondelete=ondelete
        )
    ]


def _create_reference_platform() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("slug", name=op.f("uq_teams_slug")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "llm_models",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("team_id", sa.UUID(), nullable=True),
        sa.Column("litellm_model", sa.Text(), nullable=True),
        sa.Column("token_limit", sa.Integer(), nullable=False),
        sa.Column("supports_vision", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("supports_tools", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "supports_reasoning", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("security_level", sa.Integer(), nullable=True),
        sa.Column("deprecated", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("deprecation_date", sa.Date(), nullable=True),
        sa.Column("deprecation_source", sa.Text(), nullable=True),
        sa.Column("replacement_model_id", sa.UUID(), nullable=True),
        sa.Column("migrated_to_model_id", sa.UUID(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["migrated_to_model_id"],
            ["llm_models.id"],
            name=op.f("fk_llm_models_migrated_to_model_id_llm_models"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["replacement_model_id"],
            ["llm_models.id"],
            name=op.f("fk_llm_models_replacement_model_id_llm_models"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_llm_models_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_models")),
    )
    op.create_index(op.f("ix_llm_models_deleted_at"), "llm_models", ["deleted_at"], unique=False)
    op.create_index(
        op.f("ix_llm_models_migrated_to_model_id"),
        "llm_models",
        ["migrated_to_model_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_llm_models_replacement_model_id"),
        "llm_models",
        ["replacement_model_id"],
        unique=False,
    )
    op.create_index(
        "uq_llm_models_provider_name_team_live",
        "llm_models",
        ["provider", "name", "team_id"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
        postgresql_nulls_not_distinct=True,
    )
    op.create_table(
        "pipelines",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("definition", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_pipelines_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
    )
    op.create_index(
        "ix_pipelines_definition_path_ops",
        "pipelines",
        ["definition"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"definition": "jsonb_path_ops"},
    )
    op.create_table(
        "spaces",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("required_security_level", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_spaces_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spaces")),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column(
            "permissions",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_members_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_team_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_team_members")),
    )
    op.create_index(op.f("ix_team_members_user_id"), "team_members", ["user_id"], unique=False)
    op.create_table(
        "apps",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("llm_model_id", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["llm_model_id"],
            ["llm_models.id"],
            name=op.f("fk_apps_llm_model_id_llm_models"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_apps_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apps")),
    )
    op.create_index(op.f("ix_apps_llm_model_id"), "apps", ["llm_model_id", "id"], unique=False)
    op.create_table(
        "assistants",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("llm_model_id", sa.UUID(), nullable=False),
        sa.Column(
            "model_parameters",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["llm_model_id"],
            ["llm_models.id"],
            name=op.f("fk_assistants_llm_model_id_llm_models"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_assistants_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistants")),
    )
    op.create_index(
        op.f("ix_assistants_llm_model_id"), "assistants", ["llm_model_id", "id"], unique=False
    )
    op.create_table(
        "services",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("llm_model_id", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["llm_model_id"],
            ["llm_models.id"],
            name=op.f("fk_services_llm_model_id_llm_models"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_services_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
    )
    op.create_index(
        op.f("ix_services_llm_model_id"), "services", ["llm_model_id", "id"], unique=False
    )
    op.create_table(
        "space_models",
        sa.Column("space_id", sa.UUID(), nullable=False),
        sa.Column("llm_model_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["llm_model_id"],
            ["llm_models.id"],
            name=op.f("fk_space_models_llm_model_id_llm_models"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name=op.f("fk_space_models_space_id_spaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("space_id", "llm_model_id", name=op.f("pk_space_models")),
    )
    op.create_index(
        op.f("ix_space_models_llm_model_id"), "space_models", ["llm_model_id"], unique=False
    )
    op.create_table(
        "templates",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("team_id", sa.UUID(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("llm_model_id", sa.UUID(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["llm_model_id"],
            ["llm_models.id"],
            name=op.f("fk_templates_llm_model_id_llm_models"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_templates_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_templates")),
    )
    op.create_index(
        op.f("ix_templates_llm_model_id"), "templates", ["llm_model_id", "id"], unique=False
    )
    op.create_table(
        "app_runs",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("app_id", sa.UUID(), nullable=True),
        sa.Column("llm_model_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["app_id"], ["apps.id"], name=op.f("fk_app_runs_app_id_apps"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["llm_model_id"],
            ["llm_models.id"],
            name=op.f("fk_app_runs_llm_model_id_llm_models"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_app_runs_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_runs")),
    )
    op.create_index(op.f("ix_app_runs_llm_model_id"), "app_runs", ["llm_model_id"], unique=False)
    op.create_table(
        "questions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("team_id", sa.UUID(), nullable=False),
        sa.Column("assistant_id", sa.UUID(), nullable=True),
        sa.Column("llm_model_id", sa.UUID(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["assistant_id"],
            ["assistants.id"],
            name=op.f("fk_questions_assistant_id_assistants"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["llm_model_id"],
            ["llm_models.id"],
            name=op.f("fk_questions_llm_model_id_llm_models"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_questions_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questions")),
    )
    op.create_index(op.f("ix_questions_llm_model_id"), "questions", ["llm_model_id"], unique=False)


def _create_worker_tables() -> None:
    layout = migration_layout()
    op.create_table(
        "audit_events",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=True),
        sa.Column("model_id", layout.key_type("model"), nullable=True),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        schema=layout.worker_schema,
    )
    op.create_index(
        op.f("ix_audit_events_action"),
        "audit_events",
        ["action", "created_at"],
        unique=False,
        schema=layout.worker_schema,
    )
    op.create_index(
        op.f("ix_audit_events_model_id"),
        "audit_events",
        ["model_id"],
        unique=False,
        schema=layout.worker_schema,
    )
    op.create_table(
        "lifecycle_runs",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("job", sa.Text(), nullable=False),
        sa.Column("job_id", sa.Text(), nullable=True),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "summary",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "trigger IN ('cron', 'manual', 'catch_up')", name=op.f("ck_lifecycle_runs_trigger")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifecycle_runs")),
        schema=layout.worker_schema,
    )
    op.create_index(
        op.f("ix_lifecycle_runs_job"),
        "lifecycle_runs",
        ["job", "started_at"],
        unique=False,
        schema=layout.worker_schema,
    )
    op.create_table(
        "lifecycle_events",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("model_id", layout.key_type("model"), nullable=True),
        sa.Column("model_provider", sa.Text(), nullable=False),
        sa.Column("model_name", sa.Text(), nullable=False),
        sa.Column("replacement_provider", sa.Text(), nullable=True),
        sa.Column("replacement_model_name", sa.Text(), nullable=True),
        sa.Column("deprecation_date", sa.Date(), nullable=True),
        sa.Column(
            "payload",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("dedup_key", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("fanned_out_at", sa.DateTime(timezone=True), nullable=True),
        *host_fk(
            ["model_id"], "llm_models", op.f("fk_lifecycle_events_model_id_llm_models"), "SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifecycle_events")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_lifecycle_events_dedup_key")),
        schema=layout.worker_schema,
    )
    op.create_index(
        op.f("ix_lifecycle_events_model_id"),
        "lifecycle_events",
        ["model_id"],
        unique=False,
        schema=layout.worker_schema,
    )
    op.create_index(
        "ix_lifecycle_events_pending",
        "lifecycle_events",
        ["created_at"],
        unique=False,
        schema=layout.worker_schema,
        postgresql_where=sa.text("fanned_out_at IS NULL"),
    )
    op.create_table(
        "model_migrations",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("request_key", sa.Text(), nullable=False),
        sa.Column("from_model_id", layout.key_type("model"), nullable=True),
        sa.Column("to_model_id", layout.key_type("model"), nullable=True),
        sa.Column("from_provider", sa.Text(), nullable=True),
        sa.Column("from_model_name", sa.Text(), nullable=True),
        sa.Column("to_provider", sa.Text(), nullable=True),
        sa.Column("to_model_name", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=True),
        sa.Column(
            "warnings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "counts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "progress",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('migration', 'deletion')", name=op.f("ck_model_migrations_kind")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'succeeded', 'failed', 'rejected')",
            name=op.f("ck_model_migrations_status"),
        ),
        *host_fk(
            ["from_model_id"],
            "llm_models",
            op.f("fk_model_migrations_from_model_id_llm_models"),
            "SET NULL",
        ),
        *host_fk(
            ["to_model_id"],
            "llm_models",
            op.f("fk_model_migrations_to_model_id_llm_models"),
            "SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_migrations")),
        sa.UniqueConstraint("request_key", name=op.f("uq_model_migrations_request_key")),
        schema=layout.worker_schema,
    )
    op.create_index(
        op.f("ix_model_migrations_from_model_id"),
        "model_migrations",
        ["from_model_id"],
        unique=False,
        schema=layout.worker_schema,
    )
    op.create_index(
        op.f("ix_model_migrations_to_model_id"),
        "model_migrations",
        ["to_model_id"],
        unique=False,
        schema=layout.worker_schema,
    )
    op.create_index(
        "uq_model_migrations_active_source",
        "model_migrations",
        ["from_model_id"],
        unique=True,
        schema=layout.worker_schema,
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("team_id", layout.key_type("team"), nullable=False),
        sa.Column("user_id", layout.key_type("user"), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "level IN ('info', 'warning', 'error')", name=op.f("ck_notifications_level")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            [f"{layout.worker_schema}.lifecycle_events.id"],
            name=op.f("fk_notifications_event_id_lifecycle_events"),
            ondelete="CASCADE",
        ),
        *host_fk(["user_id"], "users", op.f("fk_notifications_user_id_users"), "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint(
            "event_id", "team_id", "user_id", name=op.f("uq_notifications_event_id_team_id_user_id")
        ),
        schema=layout.worker_schema,
    )
    op.create_index(
        op.f("ix_notifications_team_id"),
        "notifications",
        ["team_id", "created_at"],
        unique=False,
        schema=layout.worker_schema,
    )
    op.create_index(
        op.f("ix_notifications_user_id"),
        "notifications",
        ["user_id"],
        unique=False,
        schema=layout.worker_schema,
    )


def _drop_worker_tables() -> None:
    layout = migration_layout()
    op.drop_index(
        op.f("ix_notifications_user_id"), table_name="notifications", schema=layout.worker_schema
    )
    op.drop_index(
        op.f("ix_notifications_team_id"), table_name="notifications", schema=layout.worker_schema
    )
    op.drop_table("notifications", schema=layout.worker_schema)
    op.drop_index(
        "uq_model_migrations_active_source",
        table_name="model_migrations",
        postgresql_where=sa.text("status IN ('pending', 'running')"),
    )
    op.drop_index(
        op.f("ix_model_migrations_to_model_id"),
        table_name="model_migrations",
        schema=layout.worker_schema,
    )
    op.drop_index(
        op.f("ix_model_migrations_from_model_id"),
        table_name="model_migrations",
        schema=layout.worker_schema,
    )
    op.drop_table("model_migrations", schema=layout.worker_schema)
    op.drop_index(
        "ix_lifecycle_events_pending",
        table_name="lifecycle_events",
        postgresql_where=sa.text("fanned_out_at IS NULL"),
    )
    op.drop_index(
        op.f("ix_lifecycle_events_model_id"),
        table_name="lifecycle_events",
        schema=layout.worker_schema,
    )
    op.drop_table("lifecycle_events", schema=layout.worker_schema)
    op.drop_index(
        op.f("ix_lifecycle_runs_job"), table_name="lifecycle_runs", schema=layout.worker_schema
    )
    op.drop_table("lifecycle_runs", schema=layout.worker_schema)
    op.drop_index(
        op.f("ix_audit_events_model_id"), table_name="audit_events", schema=layout.worker_schema
    )
    op.drop_index(
        op.f("ix_audit_events_action"), table_name="audit_events", schema=layout.worker_schema
    )
    op.drop_table("audit_events", schema=layout.worker_schema)


def _drop_reference_platform() -> None:
    op.drop_index(op.f("ix_questions_llm_model_id"), table_name="questions")
    op.drop_table("questions")
    op.drop_index(op.f("ix_app_runs_llm_model_id"), table_name="app_runs")
    op.drop_table("app_runs")
    op.drop_index(op.f("ix_templates_llm_model_id"), table_name="templates")
    op.drop_table("templates")
    op.drop_index(op.f("ix_space_models_llm_model_id"), table_name="space_models")
    op.drop_table("space_models")
    op.drop_index(op.f("ix_services_llm_model_id"), table_name="services")
    op.drop_table("services")
    op.drop_index(op.f("ix_assistants_llm_model_id"), table_name="assistants")
    op.drop_table("assistants")
    op.drop_index(op.f("ix_apps_llm_model_id"), table_name="apps")
    op.drop_table("apps")
    op.drop_index(op.f("ix_team_members_user_id"), table_name="team_members")
    op.drop_table("team_members")
    op.drop_table("spaces")
    op.drop_index(
        "ix_pipelines_definition_path_ops",
        table_name="pipelines",
        postgresql_using="gin",
        postgresql_ops={"definition": "jsonb_path_ops"},
    )
    op.drop_table("pipelines")
    op.drop_index(
        "uq_llm_models_provider_name_team_live",
        table_name="llm_models",
        postgresql_where=sa.text("deleted_at IS NULL"),
        postgresql_nulls_not_distinct=True,
    )
    op.drop_index(op.f("ix_llm_models_replacement_model_id"), table_name="llm_models")
    op.drop_index(op.f("ix_llm_models_migrated_to_model_id"), table_name="llm_models")
    op.drop_index(op.f("ix_llm_models_deleted_at"), table_name="llm_models")
    op.drop_table("llm_models")
    op.drop_table("users")
    op.drop_table("teams")
