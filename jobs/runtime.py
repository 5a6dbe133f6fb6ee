"""What a job receives instead of ARQ's untyped ``ctx``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.platform.host import Platform, reference_host
from jobs.config import JobConfig
from jobs.observer import Observer

Enqueue = Callable[[str, dict[str, Any], str], Awaitable[None]]


async def _no_enqueue(job: str, payload: dict[str, Any], key: str) -> None:
    """Used where no queue is attached (dry runs, direct calls in tests)."""


@dataclass
class Runtime:
    """Typed dependencies shared by every job of one worker (or one CLI call)."""

    settings: JobConfig
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    enqueue: Enqueue = _no_enqueue
    job_id: str | None = None
    job_try: int = 1
    extras: dict[str, Any] = field(default_factory=dict)
    # The host platform the jobs run on (its mapping and references).
    platform: Platform = field(default_factory=reference_host)
    # Told of each batch and delivery (the worker's metrics); ignores them by default.
    observer: Observer = field(default_factory=Observer)
