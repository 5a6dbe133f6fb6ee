"""JSON (never pickle) serialization of ARQ jobs and results.

A payload that is not JSON (for example a pickle written into Redis by hand) fails to
deserialize, so ARQ records the job as failed without running it.
"""

from __future__ import annotations

import json
from typing import Any

from db.json_values import dumps
from worker.job_results import error_result

MAX_JOB_BYTES = 1_000_000
# ARQ stores a copy of the job's arguments with its result; a larger copy (a catalog of
# thousands of models) is left out so the result stays readable. Requests, whose key is
# checked against the recorded arguments, are far smaller.
MAX_ARGS_IN_RESULT_BYTES = 64_000
# The latest instant a ``datetime`` holds (9999-12-31), in ms: ARQ turns ``et`` into one.
_MAX_EPOCH_MS = 253_402_300_799_999
# ARQ's envelope keys and the JSON types it assumes for them (jobs and results share them).
_ENVELOPE: dict[str, tuple[type, ...]] = {"f": (str,), "a": (list,), "k": (dict,)}


class JobPayloadError(ValueError):
    """A serialized job is not acceptable JSON."""


def serialize(obj: dict[str, Any]) -> bytes:
    """Serialize a job or a result to UTF-8 JSON (a result without large arguments, and a
    failed job's error with its message bounded)."""
    if _is_result(obj):
        if isinstance(obj["r"], BaseException):
            obj = {**obj, "r": error_result(obj["r"])}
        if len(dumps([obj.get("a"), obj.get("k")])) > MAX_ARGS_IN_RESULT_BYTES:
            obj = {**obj, "a": [], "k": {}}
    return dumps(obj).encode()


def _is_result(obj: dict[str, Any]) -> bool:
    """ARQ's result envelope: a job envelope with its outcome (``s``) and result (``r``)."""
    return "f" in obj and "s" in obj and "r" in obj


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
    if "f" in obj:  # an ARQ job or result envelope (without "f", ARQ fails the job itself)
        _check_envelope(obj)
    return obj


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_envelope(obj: dict[str, Any]) -> None:
    """Refuse an envelope whose fields ARQ would use with the wrong type.

    ARQ reads ``f``, ``a``, ``k``, ``t`` and ``et`` outside the code that fails a job:
    a wrong type there (``"t": "x"``, ``"et": "soon"``) would end the worker process, and
    its in-progress key would then end the next worker too. Refused here, the job fails.
    """
    for key, types in _ENVELOPE.items():
        if key in obj and not isinstance(obj[key], types):
            raise JobPayloadError(f"envelope field {key!r} must be a {types[0].__name__}")
    job_try = obj.get("t")
    if job_try is not None and not (_is_int(job_try) and 0 <= job_try <= 1_000_000):
        raise JobPayloadError("envelope field 't' (job try) must be null or an integer >= 0")
    for key in ("et", "st", "ft"):
        value = obj.get(key, 0)
        if not (_is_int(value) and 0 <= value <= _MAX_EPOCH_MS):
            raise JobPayloadError(f"envelope field {key!r} must be a time in epoch milliseconds")
