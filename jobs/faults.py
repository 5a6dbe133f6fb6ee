"""Which exceptions are worth retrying."""

from __future__ import annotations

import asyncio

import redis.exceptions as redis_exc

from db.faults import is_transient_database_error
from jobs.errors import TransientJobError


def is_transient(exc: BaseException) -> bool:
    """True for faults that a retry with backoff can get past."""
    if isinstance(exc, TransientJobError | ConnectionError | TimeoutError | asyncio.TimeoutError):
        return True
    if isinstance(exc, OSError):
        return True
    if isinstance(exc, redis_exc.ConnectionError | redis_exc.TimeoutError):
        return True
    return is_transient_database_error(exc)
