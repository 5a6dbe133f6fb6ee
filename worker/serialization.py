"""JSON (never pickle) serialization of ARQ jobs and results.

A payload that is not JSON (for example a pickle written into Redis by hand) fails to
deserialize, so ARQ records the job as failed without running it.
"""

from __future__ import annotations

import json
from typing import Any

from db.json_values import dumps

MAX_JOB_BYTES = 1_000_000


class JobPayloadError(ValueError):
    """A serialized job is not acceptable JSON."""


def serialize(obj: dict[str, Any]) -> bytes:
    """Serialize a job or a result to UTF-8 JSON."""
    return dumps(obj).encode()


def deserialize(data: bytes) -> dict[str, Any]:
    """Parse a job or result; anything but a JSON object is refused."""
    if len(data) > MAX_JOB_BYTES:
        raise JobPayloadError(f"payload of {len(data)} bytes exceeds {MAX_JOB_BYTES}")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JobPayloadError(f"payload is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise JobPayloadError("payload is not a JSON object")
    return obj
