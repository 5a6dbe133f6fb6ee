"""Who is told about a team's lifecycle events: the platform mapping's recipients query.

Every notification, email and webhook ``recipients`` list is built from
:meth:`Platform.recipients_sql`: the ``[recipients]`` query of the platform mapping (for the
reference platform, ``db/platform/reference.toml``), written by the operator and run with
``:team_ids`` and ``:permission`` bound, never interpolated.

The query runs on its own, in a read-only savepoint of the caller's transaction, so it can
change nothing; its columns are read by name. Its rows are the host's data, so each is
judged on its own: a row that names no team of the chunk, no user id, or a user twice is
skipped, and a recipient without a usable address is told in-app only. Every skip comes
back with its reason, so no row can keep another team from being told.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from db.faults import is_transient_database_error
from db.keys import HostId
from db.platform.host import Platform
from db.platform.mapping import RECIPIENT_COLUMNS

# RFC 5321 caps a forward path at 256 octets, the address inside it at 254.
MAX_EMAIL_LENGTH = 254
# One address: no whitespace or control characters (no header can be smuggled in), no
# display name or list, an ``@`` with something either side.
_ADDRESS = re.compile(r"[^\s@<>,;\"\x00-\x1f\x7f-\x9f]+@[^\s@<>,;\"\x00-\x1f\x7f-\x9f]+")
_ID_RANGES = {"bigint": 2**63, "integer": 2**31}
READ_ONLY_SQL_TRANSACTION = "25006"


class RecipientsQueryError(RuntimeError):
    """The recipients query cannot run, or does not return the columns it must."""


class Recipient(NamedTuple):
    """A member who receives a team's notifications; ``email`` is ``None`` when the
    query gave no usable address (``no_email`` says why): told in-app only. (A named
    tuple: a chunk makes one per member, and tuples are the cheapest to make.)"""

    team_id: HostId
    user_id: HostId
    email: str | None
    no_email: str | None = None


@dataclass(frozen=True)
class SkippedRow:
    """A row of the recipients query that told nobody, and why."""

    team_id: HostId | None
    user_id: HostId | None
    reason: str

    def __str__(self) -> str:
        who = "a row" if self.user_id is None else f"user {self.user_id}"
        team = "" if self.team_id is None else f" of team {self.team_id}"
        return f"{who}{team}: {self.reason}"


@dataclass
class TeamRecipients:
    """The recipients of a chunk of teams, and the rows of the query that were skipped."""

    by_team: dict[HostId, list[Recipient]] = field(default_factory=dict)
    skipped: list[SkippedRow] = field(default_factory=list)

    def of(self, team_id: HostId) -> list[Recipient]:
        return self.by_team.get(team_id, [])

    def all(self) -> list[Recipient]:
        return [r for team in self.by_team.values() for r in team]


async def team_recipients(
    session: AsyncSession,
    platform: Platform,
    team_ids: Sequence[HostId],
    permission: str,
    *,
    user_key: str,
) -> TeamRecipients:
    """The recipients of ``team_ids`` (by team, each team's in order of address), read in
    a read-only savepoint of the caller's transaction; ``user_key`` is the SQL type of
    user ids (``uuid``, ``bigint`` or ``integer``)."""
    if not team_ids:
        return TeamRecipients()
    async with session.begin_nested() as savepoint:
        await session.execute(text("SET TRANSACTION READ ONLY"))
        try:
            result = await session.execute(
                text(platform.recipients_sql()),
                {"team_ids": list(team_ids), "permission": permission},
            )
        except DBAPIError as exc:
            if is_transient_database_error(exc):
                raise  # a lost connection or a timeout: the job retries
            raise RecipientsQueryError(_failure(exc)) from exc
        columns = list(result.keys())
        rows = result.all()
        # Nothing was written (it could not be); the savepoint only ends read-only mode.
        await savepoint.rollback()
    return sort_rows(columns, rows, team_ids, user_key)


def _failure(exc: DBAPIError) -> str:
    first = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
    if getattr(exc.orig, "sqlstate", None) == READ_ONLY_SQL_TRANSACTION:
        # PostgreSQL names the top statement ("SELECT") for a write inside a CTE.
        first = f"it writes or locks rows, and it runs read-only ({first})"
    return f"the recipients query failed: {first}; see `lifecycle platform check`"


def sort_rows(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    team_ids: Sequence[HostId],
    user_key: str,
) -> TeamRecipients:
    """Judge each row on its own: the recipients of ``team_ids`` and the rows skipped."""
    position = {}
    for name in RECIPIENT_COLUMNS:
        if name not in columns:
            raise RecipientsQueryError(
                f"the recipients query returns {', '.join(columns) or 'no columns'}; "
                f"it must return {', '.join(RECIPIENT_COLUMNS)} (see `lifecycle platform check`)"
            )
        position[name] = columns.index(name)
    wanted = {_host_id(t) for t in team_ids}
    at_team, at_user, at_email = (position[name] for name in RECIPIENT_COLUMNS)
    out = TeamRecipients()
    seen: set[tuple[HostId, HostId]] = set()
    for row in rows:
        raw_team, raw_user = row[at_team], row[at_user]
        judged = _ids(raw_team, raw_user, wanted, user_key)
        if isinstance(judged, str):
            out.skipped.append(SkippedRow(_host_id(raw_team), _host_id(raw_user), judged))
            continue
        if judged in seen:
            out.skipped.append(SkippedRow(*judged, "listed twice; told once"))
            continue
        seen.add(judged)
        email, no_email = _address(row[at_email])
        out.by_team.setdefault(judged[0], []).append(Recipient(*judged, email, no_email))
    for recipients in out.by_team.values():
        recipients.sort(key=_by_address)
    return out


def _by_address(recipient: Recipient) -> tuple[bool, str]:
    """Recipients by address; those without one last (in the query's order)."""
    return recipient.email is None, recipient.email or ""


def _host_id(value: object) -> HostId | None:
    """An id as the database returns a key column (``None`` for anything else)."""
    if isinstance(value, uuid.UUID):  # asyncpg's own subclass hashes and compares alike
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _kind(value: object) -> str:
    return "text" if isinstance(value, str) else type(value).__name__


def _ids(
    raw_team: object, raw_user: object, wanted: set[HostId | None], user_key: str
) -> tuple[HostId, HostId] | str:
    """A row's ``(team, user)``, or why it can tell nobody."""
    team, user = _host_id(raw_team), _host_id(raw_user)
    if team is None:
        return "team_id is NULL" if raw_team is None else f"team_id is {_kind(raw_team)}, not an id"
    if team not in wanted:
        return "team_id is not one of the teams asked for"
    if user is None:
        return "user_id is NULL" if raw_user is None else f"user_id is {_kind(raw_user)}, not an id"
    if user_key == "uuid" and not isinstance(user, uuid.UUID):
        return "user_id is a number; user ids are uuid"
    if user_key != "uuid" and isinstance(user, uuid.UUID):
        return f"user_id is a uuid; user ids are {user_key}"
    limit = _ID_RANGES.get(user_key)
    if limit is not None and isinstance(user, int) and not -limit <= user < limit:
        return f"user_id is out of the {user_key} range"
    return team, user


def _address(value: object) -> tuple[str | None, str | None]:
    """``(address, None)``, or ``(None, why there is none)`` (never the value itself:
    it may be huge or hold control characters)."""
    if value is None:
        return None, "no email address (NULL)"
    if not isinstance(value, str):
        return None, f"the email is {_kind(value)}, not text"
    if len(value) > MAX_EMAIL_LENGTH:
        return None, f"the email is {len(value)} characters long (at most {MAX_EMAIL_LENGTH})"
    if not _ADDRESS.fullmatch(value):
        return None, "the email is not one address"
    return value, None
