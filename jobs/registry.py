"""Every job, cron and start-up hook the worker runs, gathered from the job families.

A family is a module in ``jobs`` that may define ``JOBS`` (job specs), ``CRONS`` (cron
specs) and ``STARTUP`` (coroutines run once when a worker starts).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from functools import cache
from types import ModuleType
from typing import cast

from jobs.runtime import Runtime
from jobs.spec import CronSpec, JobSpec

FAMILIES: tuple[str, ...] = (
    "system",
    "notifications",
    "deliveries",
    "migration",
    "undo",
    "cleanup",
    "catalog",
    "deprecation",
)

StartupHook = Callable[[Runtime], Awaitable[None]]


@cache
def _modules() -> tuple[ModuleType, ...]:
    return tuple(importlib.import_module(f"jobs.{name}") for name in FAMILIES)


def all_jobs() -> tuple[JobSpec, ...]:
    """The job specs of every family, sorted by name."""
    specs = [s for m in _modules() for s in cast(tuple[JobSpec, ...], getattr(m, "JOBS", ()))]
    names = [s.name for s in specs]
    if len(names) != len(set(names)):
        raise RuntimeError(f"duplicate job names: {names}")
    return tuple(sorted(specs, key=lambda s: s.name))


def all_crons() -> tuple[CronSpec, ...]:
    """The cron specs of every family."""
    return tuple(c for m in _modules() for c in cast(tuple[CronSpec, ...], getattr(m, "CRONS", ())))


def startup_hooks() -> tuple[StartupHook, ...]:
    """Coroutines each worker runs once at start (for example cleanup catch-up)."""
    return tuple(
        h for m in _modules() for h in cast(tuple[StartupHook, ...], getattr(m, "STARTUP", ()))
    )


def job_spec(name: str) -> JobSpec:
    """The spec of job ``name``; ``KeyError`` lists the known jobs."""
    for spec in all_jobs():
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in all_jobs())
    raise KeyError(f"unknown job {name!r} (known: {known})")
