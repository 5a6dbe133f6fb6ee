"""The settings a job reads, handed to it by the worker (jobs never read the environment)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from zoneinfo import ZoneInfo

from pydantic import SecretStr


@dataclass(frozen=True)
class JobConfig:
    """Typed configuration on the :class:`~jobs.runtime.Runtime` (built from ``Settings``)."""

    queue_name: str
    zone: ZoneInfo
    # Rows per batch: at most batch_size, at least batch_min (capped at batch_size), sized
    # toward batch_target_ms per batch, with batch_pause_ms between batches.
    batch_size: int
    batch_min: int
    batch_target_ms: int
    batch_pause_ms: int
    notification_permission: str
    fanout_team_chunk: int
    cost_map_source: str | None
    retiring_window_days: int
    enrich_cron_time: time
    cleanup_max_models: int
    max_tries: int
    job_lease_seconds: int
    # Delivery channels (unset: the channel is off) and retirement reminders.
    webhook_url: SecretStr | None
    webhook_secret: SecretStr | None
    slack_webhook_url: SecretStr | None
    smtp_url: SecretStr | None
    email_from: str
    reminder_milestones: tuple[int, ...]
    delivery_timeout_seconds: float
    delivery_max_attempts: int
