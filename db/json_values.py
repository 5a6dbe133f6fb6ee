"""Plain JSON types for UUIDs, dates, sets, exceptions and pydantic models.

A leaf module: jsonb values and summaries (``jobs``), printed reports and ARQ's job
serializer (``worker``) share one conversion.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any


def json_default(value: object) -> Any:
    """``json.dumps`` ``default=``: the plain JSON form of the values above."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, BaseException):
        # Results of failed jobs carry their exception; keep its type and message.
        return {"error": type(value).__name__, "message": str(value)}
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    """Compact JSON text of ``value``."""
    return json.dumps(value, default=json_default, separators=(",", ":"))


def to_json_types(value: Any) -> Any:
    """``value`` with UUIDs, dates, sets and exceptions turned into plain JSON types
    (for ``jsonb`` columns and printed reports)."""
    return json.loads(dumps(value))
