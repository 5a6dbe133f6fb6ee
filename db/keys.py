"""Host keys: the ids of a host's models, teams, users and reference rows.

A host keeps them as ``uuid``, ``bigint`` or ``integer`` columns (read from its database by
the platform check). The worker carries them as Python ``uuid.UUID`` or ``int`` values and
binds them without a cast, so PostgreSQL types each parameter from the column it meets.
A leaf module: every layer may import it.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, UserDefinedType

HostId = uuid.UUID | int

_INTEGER = re.compile(r"^-?[0-9]{1,19}$")


class _Untyped(UserDefinedType[Any]):
    """A column type that renders no bind cast (asyncpg takes the server's type)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        # What the models describe: the reference platform's keys. Migrations create a
        # host-key column with the host's own type (``Layout.key_type``).
        return "UUID"


class HostKey(TypeDecorator[Any]):
    """A host id column of any key type: ``uuid.UUID`` or ``int`` in, the same out."""

    impl = _Untyped
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        # asyncpg returns its own UUID subclass; hand out the standard one.
        if isinstance(value, uuid.UUID) and type(value) is not uuid.UUID:
            return uuid.UUID(int=value.int)
        return value


def parse_host_id(value: object) -> HostId:
    """A host id from its text (or JSON) form: a whole number, or a UUID in any case.

    Raises ``ValueError`` for anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an id")
    if isinstance(value, int | uuid.UUID):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER.match(text):
            number = int(text)
            if -(2**63) <= number < 2**63:
                return number
            raise ValueError(f"{value!r} is beyond a bigint id's range")
        try:
            return uuid.UUID(text)
        except ValueError:
            pass
    raise ValueError(f"{value!r} is neither a whole-number id nor a UUID")


def id_text(value: HostId) -> str:
    """The canonical text of an id: digits, or a lower-case hyphenated UUID.

    The form ids are compared in when they sit inside JSON documents.
    """
    return str(value).lower()
