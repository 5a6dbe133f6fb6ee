"""Which exceptions are worth retrying."""

from __future__ import annotations

import asyncio

import redis.exceptions as redis_exc
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from jobs.errors import TransientJobError

# SQLSTATEs that a later attempt can get past: serialization failure, deadlock,
# lock not available, query cancelled (lock_timeout / statement_timeout), admin shutdown,
# crash shutdown, cannot connect now, connection exceptions.
_TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03"}
_TRANSIENT_SQLSTATE_CLASSES = ("08",)


def sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE behind ``exc`` (driver or SQLAlchemy wrapper), if any."""
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None), exc):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def is_transient(exc: BaseException) -> bool:
    """True for faults that a retry with backoff can get past."""
    if isinstance(exc, TransientJobError | ConnectionError | TimeoutError | asyncio.TimeoutError):
        return True
    if isinstance(exc, OSError):
        return True
    if isinstance(exc, redis_exc.ConnectionError | redis_exc.TimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        state = sqlstate(exc)
        if state is not None:
            return state in _TRANSIENT_SQLSTATES or state.startswith(_TRANSIENT_SQLSTATE_CLASSES)
        if isinstance(exc, InterfaceError):
            # The driver's "connection is closed" is a lost connection; any other interface
            # error (too many bind parameters, misuse of the API) is a bug to fix, not retry.
            return "closed" in str(exc.orig).lower()
        return isinstance(exc, OperationalError)
    name = type(exc).__name__
    return name in {
        "ConnectionDoesNotExistError",
        "CannotConnectNowError",
        "ConnectionFailureError",
    }


def backoff_seconds(job_try: int, base: float = 1.0, cap: float = 30.0) -> float:
    """Exponential backoff for attempt ``job_try`` (1-based), capped."""
    return float(min(cap, base * 2 ** max(0, job_try - 1)))
