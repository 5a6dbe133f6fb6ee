"""Worker configuration, read from ``LIFECYCLE_*`` environment variables."""

from __future__ import annotations

import difflib
import os
import re
from datetime import time
from functools import cached_property
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from db.schema_layout import WORKER_SCHEMA, Layout, check_schema_name
from jobs.channels import channel_kinds, channel_settings_models
from jobs.config import CleanupMode, JobConfig

ENV_PREFIX = "LIFECYCLE_"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/lifecycle"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

# libpq's sslmode values (asyncpg takes the same).
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# What a rediss:// URL's query may set (redis-py's names; the worker's ARQ pool sets them too).
REDIS_TLS_OPTIONS = (
    "ssl_ca_certs",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_cert_reqs",
    "ssl_check_hostname",
)

_PERMISSION = re.compile(r"^[a-z][a-z0-9_.:-]{0,62}$")
_QUEUE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")

Seconds = Annotated[int, Field(ge=1, le=24 * 3600)]


class SettingsError(ValueError):
    """The environment holds a setting that is unknown or invalid."""


class Settings(BaseSettings, *channel_settings_models()):  # type: ignore[misc]
    """Everything the worker, the CLI and the client read from the environment.

    Each delivery channel's settings (``LIFECYCLE_WEBHOOK_URL``, ``LIFECYCLE_SMTP_URL``…)
    are declared and checked by its own settings model in ``jobs.channels``, included
    here as a base class.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, populate_by_name=True
    )

    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)
    redis_url: SecretStr = SecretStr(DEFAULT_REDIS_URL)
    # LIFECYCLE_SCHEMA: the PostgreSQL schema of the worker's own tables.
    worker_schema: str = Field(default=WORKER_SCHEMA, alias="schema")
    # LIFECYCLE_PLATFORM_FILE: the host platform mapping (none: the reference platform).
    platform_file: Path | None = None
    queue_name: str = "lifecycle:queue"
    timezone: str = "UTC"
    # Batches size themselves toward batch_target_ms, between batch_min and batch_size
    # rows, and wait batch_pause_ms between them (gentle on the host's database).
    batch_size: int = Field(default=5000, ge=1, le=100_000)
    batch_min: int = Field(default=100, ge=1, le=100_000)
    batch_target_ms: int = Field(default=500, ge=1, le=60_000)
    batch_pause_ms: int = Field(default=0, ge=0, le=60_000)
    notification_permission: str = "manage_models"
    fanout_team_chunk: int = Field(default=500, ge=1, le=100_000)
    cost_map_source: str | None = None
    retiring_window_days: int = Field(default=30, ge=0, le=3650)
    enrich_cron_time: time = time(3, 0)
    cleanup_max_models: int = Field(default=1000, ge=1, le=1_000_000)
    # LIFECYCLE_CLEANUP_MODE (unset: see ``resolved_cleanup_mode``).
    cleanup_mode: CleanupMode | None = None
    # LIFECYCLE_UNDO_DAYS: a finished request can be undone this long, and the cleanup
    # keeps its source meanwhile (reason undo_window); 0 turns the window off.
    undo_days: int = Field(default=7, ge=0, le=3650)
    job_timeout_seconds: Seconds = 600
    job_lease_seconds: Seconds = 30
    keep_result_seconds: int = Field(default=7 * 24 * 3600, ge=60, le=90 * 24 * 3600)
    max_tries: int = Field(default=5, ge=1, le=100)
    health_check_interval_seconds: int = Field(default=10, ge=1, le=60)
    db_pool_size: int = Field(default=5, ge=1, le=100)
    reminder_days: str = "90,30,7,1"
    delivery_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    delivery_max_attempts: int = Field(default=12, ge=1, le=100)
    # `lifecycle worker --http PORT`: /metrics and /healthz (0: any free port; unset: off).
    http_port: int | None = Field(default=None, ge=0, le=65535)
    http_host: str = "127.0.0.1"

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("notification_permission")
    @classmethod
    def _check_permission(cls, value: str) -> str:
        if not _PERMISSION.match(value):
            raise ValueError(f"invalid permission name {value!r}")
        return value

    @field_validator("worker_schema")
    @classmethod
    def _check_worker_schema(cls, value: str) -> str:
        return check_schema_name(value)

    @field_validator("queue_name")
    @classmethod
    def _check_queue(cls, value: str) -> str:
        if not _QUEUE.match(value):
            raise ValueError(f"invalid queue name {value!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+asyncpg://" + url.split("://", 1)[1]
        if not url.startswith("postgresql+asyncpg://"):
            raise ValueError("must be a postgresql:// or postgresql+asyncpg:// URL")
        return SecretStr(check_postgres_tls(url))

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        redis_tls_options(url)
        return value

    @field_validator("cleanup_mode", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _send_fits_the_job(self) -> Settings:
        # A sender claims while a whole send (two deadlines and margins) still fits in its
        # job's time: leave it at least one deadline for that.
        if self.job_timeout_seconds < 3 * self.delivery_timeout_seconds + 10:
            raise ValueError(
                "LIFECYCLE_JOB_TIMEOUT_SECONDS must be at least 3 x "
                "LIFECYCLE_DELIVERY_TIMEOUT_SECONDS + 10 (a sender's job must have time "
                "to claim, send within the deadline, and record)"
            )
        return self

    @field_validator("reminder_days")
    @classmethod
    def _check_reminder_days(cls, value: str) -> str:
        parse_reminder_days(value)
        return value

    @cached_property
    def reminder_milestones(self) -> tuple[int, ...]:
        """``LIFECYCLE_REMINDER_DAYS`` as whole days before the date, largest first."""
        return parse_reminder_days(self.reminder_days)

    @property
    def resolved_cleanup_mode(self) -> CleanupMode:
        """What scheduled cleanup runs do: ``LIFECYCLE_CLEANUP_MODE``, else ``delete`` on the
        reference platform and ``report`` on a mapped host, so a worker started on a
        host's database never hard-deletes a host row before an operator chose to."""
        if self.cleanup_mode is not None:
            return self.cleanup_mode
        return "delete" if self.platform_file is None else "report"

    @cached_property
    def layout(self) -> Layout:
        """Where the worker's tables live (the host's key types come from its mapping)."""
        return Layout(worker_schema=self.worker_schema)

    @cached_property
    def job_config(self) -> JobConfig:
        """What the jobs read of these settings."""
        return JobConfig(
            queue_name=self.queue_name,
            zone=self.zone,
            batch_size=self.batch_size,
            batch_min=self.batch_min,
            batch_target_ms=self.batch_target_ms,
            batch_pause_ms=self.batch_pause_ms,
            notification_permission=self.notification_permission,
            fanout_team_chunk=self.fanout_team_chunk,
            cost_map_source=self.cost_map_source,
            retiring_window_days=self.retiring_window_days,
            enrich_cron_time=self.enrich_cron_time,
            cleanup_max_models=self.cleanup_max_models,
            cleanup_mode=self.resolved_cleanup_mode,
            undo_days=self.undo_days,
            max_tries=self.max_tries,
            job_lease_seconds=self.job_lease_seconds,
            job_timeout_seconds=self.job_timeout_seconds,
            reminder_milestones=self.reminder_milestones,
            channel_settings={
                kind.name: kind.settings(
                    **{f: getattr(self, f) for f in kind.settings.model_fields}
                )
                for kind in channel_kinds()
            },
            delivery_timeout_seconds=self.delivery_timeout_seconds,
            delivery_max_attempts=self.delivery_max_attempts,
        )

    @cached_property
    def redis_tls(self) -> dict[str, str | bool]:
        """The ``rediss://`` URL's TLS options (``ssl_ca_certs`` …), as redis-py reads them."""
        return redis_tls_options(self.redis_url.get_secret_value())

    @cached_property
    def zone(self) -> ZoneInfo:
        """The configured timezone as a ``ZoneInfo``."""
        return ZoneInfo(self.timezone)


def _query(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def _readable(option: str, path: str) -> None:
    if not os.access(path, os.R_OK):
        raise ValueError(f"{option}: cannot read {path!r}")


def check_postgres_tls(url: str) -> str:
    """``url`` with its TLS parameters checked; asyncpg's ``ssl=`` is written ``sslmode=``
    (libpq's name, which every connection path here reads)."""
    pairs = _query(url)
    names = [k for k, _ in pairs]
    if "ssl" in names and "sslmode" in names:
        raise ValueError("give sslmode or ssl, not both")
    pairs = [("sslmode" if k == "ssl" else k, v) for k, v in pairs]
    for name, value in pairs:
        if name == "sslmode" and value not in SSLMODES:
            raise ValueError(f"sslmode {value!r} is not one of {', '.join(SSLMODES)}")
        if name in ("sslrootcert", "sslcert", "sslkey", "sslcrl"):
            _readable(name, value)
    if "ssl" not in names:
        return url
    return urlunsplit(urlsplit(url)._replace(query=urlencode(pairs, safe="/:")))


def redis_tls_options(url: str) -> dict[str, str | bool]:
    """The TLS options of a ``rediss://`` URL's query, checked (files readable)."""
    options: dict[str, str | bool] = {}
    for name, value in _query(url):
        if not name.startswith("ssl_"):
            continue
        if name not in REDIS_TLS_OPTIONS:
            raise ValueError(f"unknown TLS option {name!r} ({', '.join(REDIS_TLS_OPTIONS)})")
        if not url.startswith("rediss://"):
            raise ValueError(f"{name} needs a rediss:// URL (TLS)")
        if name == "ssl_cert_reqs" and value not in ("none", "optional", "required"):
            raise ValueError(f"ssl_cert_reqs {value!r} is not one of none, optional, required")
        if name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
            _readable(name, value)
        if name == "ssl_check_hostname":
            options[name] = value.lower() in ("1", "true", "yes", "on")
        else:
            options[name] = value
    return options


def parse_reminder_days(value: str) -> tuple[int, ...]:
    """``"90,30,7,1"`` → ``(90, 30, 7, 1)``: distinct whole days from 1 to 3650, largest first."""
    try:
        days = {int(part) for part in value.split(",") if part.strip()}
    except ValueError:
        raise ValueError(f"expected comma-separated whole days, got {value!r}") from None
    if not days or not all(1 <= d <= 3650 for d in days):
        raise ValueError(f"expected days between 1 and 3650, got {value!r}")
    return tuple(sorted(days, reverse=True))


def load_settings(environ: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from the environment, refusing misspelled ``LIFECYCLE_`` variables."""
    env = dict(os.environ if environ is None else environ)
    known = {ENV_PREFIX + env_name(name) for name in Settings.model_fields}
    unknown = sorted(k for k in env if k.startswith(ENV_PREFIX) and k not in known)
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(_hinted(k, known) for k in unknown)}")
    values: dict[str, object] = {
        k[len(ENV_PREFIX) :].lower(): v for k, v in env.items() if k in known
    }
    values.update(overrides)
    try:
        return Settings.model_validate(values)
    except ValueError as exc:
        raise SettingsError(_describe(exc)) from exc


def _hinted(name: str, known: set[str]) -> str:
    """``LIFECYCLE_BATCH_SIZ (did you mean LIFECYCLE_BATCH_SIZE?)``."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f"{name} (did you mean {close[0]}?)" if close else name


def env_name(field: str) -> str:
    """The variable (less its prefix) that sets ``field``: its alias where it has one."""
    return (Settings.model_fields[field].alias or field).upper()


def _describe(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for err in errors():
        field = ".".join(str(p) for p in err["loc"])
        parts.append(f"{ENV_PREFIX}{field.upper()}: {err['msg']}")
    return "; ".join(parts)


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (safe to print or log)."""
    url = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    return re.sub(r"([?&](?:ssl)?password=)[^&]*", r"\1***", url, flags=re.IGNORECASE)
