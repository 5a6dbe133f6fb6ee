"""What a PostgreSQL error says about itself: its SQLSTATE, and whether a retry may help."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

# SQLSTATEs that a later attempt can get past: serialization failure, deadlock,
# lock not available, query cancelled (lock_timeout / statement_timeout), admin shutdown,
# crash shutdown, cannot connect now, connection exceptions.
_TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03"}
_TRANSIENT_SQLSTATE_CLASSES = ("08",)
# Driver errors raised when the server or the connection goes away.
_LOST_CONNECTION = {
    "ConnectionDoesNotExistError",
    "CannotConnectNowError",
    "ConnectionFailureError",
}


def sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE behind ``exc`` (driver or SQLAlchemy wrapper), if any."""
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None), exc):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def violated_constraint(exc: BaseException) -> str | None:
    """The name of the constraint (or unique index) an integrity error violated, as the
    server reports it (``None`` when it names none)."""
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None), exc):
        name = getattr(candidate, "constraint_name", None)
        if isinstance(name, str):
            return name
    return None


def is_transient_database_error(exc: BaseException) -> bool:
    """True for database faults that a retry with backoff can get past."""
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
    return type(exc).__name__ in _LOST_CONNECTION
