"""A service the CLI could not reach, said in words an operator acts on.

A refused connection, an unknown host, a missing database or a refused login surface
as driver exceptions (``ConnectionRefusedError … 5433``, SQLAlchemy's wrapper with a link
to its docs). These name the service, its URL with the password masked, and the setting
that chooses it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import asyncpg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from worker.settings import Settings, redact_url


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what caused it (SQLAlchemy keeps the driver's error in ``orig``)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        todo += [
            orig if isinstance(orig, BaseException) else None,
            current.__cause__,
            current.__context__,
        ]


def _database_name(url: str) -> str:
    return url.rsplit("/", 1)[-1].split("?", 1)[0]


def explain_unreachable(exc: BaseException, settings: Settings) -> str | None:
    """What to tell the operator when ``exc`` means PostgreSQL or Redis could not be
    used as configured; ``None`` for any other error."""
    database = settings.database_url.get_secret_value()
    postgres = f"PostgreSQL at {redact_url(database)} (LIFECYCLE_DATABASE_URL)"
    redis = f"Redis at {redact_url(settings.redis_url.get_secret_value())} (LIFECYCLE_REDIS_URL)"
    for cause in _chain(exc):
        if isinstance(cause, RedisConnectionError | RedisTimeoutError):
            reason = str(cause).rstrip(".")
            return f"cannot reach {redis}: {reason}; is it running, and is the URL right?"
        if isinstance(cause, asyncpg.InvalidCatalogNameError):
            name = _database_name(database)
            return (
                f"{postgres}: the database {name!r} does not exist; create it "
                f"(`createdb {name}`) or set LIFECYCLE_DATABASE_URL to an existing one"
            )
        if isinstance(
            cause, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError
        ):
            return f"{postgres} refused the login: {cause}"
        # Connection failures only: an address already in use is not PostgreSQL's.
        if isinstance(cause, ConnectionError | socket.gaierror | TimeoutError):
            if isinstance(cause, ConnectionRefusedError):
                reason = "connection refused"
            else:
                reason = cause.strerror or str(cause) or type(cause).__name__
            return f"cannot reach {postgres}: {reason}; is it running, and is the URL right?"
    return None
