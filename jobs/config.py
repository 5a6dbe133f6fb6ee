"""The settings a job reads, handed to it by the worker (jobs never read the environment)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

# What the scheduled (cron and catch-up) cleanup runs do: hard-delete, or only report.
CleanupMode = Literal["delete", "report"]


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
    cleanup_mode: CleanupMode
    # Days a finished request can be undone (its source kept from the cleanup); 0: off.
    undo_days: int
    max_tries: int
    job_lease_seconds: int
    job_timeout_seconds: int
    reminder_milestones: tuple[int, ...]
    # Each delivery channel's own settings model, by channel name (``jobs.channels``).
    channel_settings: Mapping[str, BaseModel]
    delivery_timeout_seconds: float
    delivery_max_attempts: int
