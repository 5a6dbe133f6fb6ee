"""The settings a job reads, handed to it by the worker (jobs never read the environment)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class JobConfig:
    """Typed configuration on the :class:`~jobs.runtime.Runtime` (built from ``Settings``)."""

    queue_name: str
    zone: ZoneInfo
    batch_size: int
    notification_permission: str
    fanout_team_chunk: int
    cost_map_source: str | None
    retiring_window_days: int
    enrich_cron_time: time
    cleanup_max_models: int
    max_tries: int
    job_lease_seconds: int
