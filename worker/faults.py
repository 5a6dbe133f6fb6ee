"""Retry timing for transient faults (which faults are transient: ``jobs.faults``)."""

from __future__ import annotations


def backoff_seconds(job_try: int, base: float = 1.0, cap: float = 30.0) -> float:
    """Exponential backoff for attempt ``job_try`` (1-based), capped."""
    return float(min(cap, base * 2 ** max(0, job_try - 1)))
