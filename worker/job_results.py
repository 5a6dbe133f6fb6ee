"""A job's result as ARQ keeps it in Redis: always small enough to be read back.

A report grows with the data (10,000 models created by a catalog sync, a thousand models
removed by a cleanup), but a result over the read cap (``MAX_JOB_BYTES``) can never be
read: the job did its work and its caller sees ``DeserializationError``. So every job's
result is bounded here, whatever the job: one over ``RESULT_MAX_BYTES`` keeps the first
``LIST_KEEP`` items of each long list and says what was cut (``truncated``: {path: full
length}). A job that records its run (catalog sync, enrichment, cleanup) keeps its whole
report in ``lifecycle_runs``; its result then says so (``full_report``) beside ``run_id``.
"""

from __future__ import annotations

from typing import Any

from db.json_values import dumps

RESULT_MAX_BYTES = 64_000
LIST_KEEP = 20
FULL_REPORT = "lifecycle_runs"
# Beyond this, even the shortened result keeps only its plain values.
_SCALAR_TEXT = 500
# A failed job's result is its error: the message keeps this many characters.
ERROR_MESSAGE_CHARS = 16_000


def result_size(result: Any) -> int:
    """Bytes of ``result`` as JSON (what ARQ stores)."""
    return len(dumps(result).encode())


def bounded_result(result: dict[str, Any], max_bytes: int = RESULT_MAX_BYTES) -> dict[str, Any]:
    """``result`` itself when it fits in ``max_bytes``; otherwise a shortened copy that does."""
    if result_size(result) <= max_bytes:
        return result
    cut: dict[str, int] = {}
    short: dict[str, Any] = _shorten(result, "", cut)
    short["truncated"] = cut
    if result_size(short) > max_bytes:
        short = {k: v for k, v in result.items() if _plain(v)}
        short["truncated"] = {k: 1 for k in result if k not in short}
    if result.get("run_id") is not None:
        short["full_report"] = FULL_REPORT
    if result_size(short) > max_bytes:  # only plain values, yet too many of them
        short = {"truncated": {"result": result_size(result)}, "run_id": result.get("run_id")}
    return short


def error_result(exc: BaseException) -> dict[str, str]:
    """A failed job's result: the error's type and message, the message cut to
    ``ERROR_MESSAGE_CHARS`` (a catalog refused for 10,000 errors lists them all in its
    run's report)."""
    message = str(exc)
    if len(message) > ERROR_MESSAGE_CHARS:
        rest = len(message) - ERROR_MESSAGE_CHARS
        message = f"{message[:ERROR_MESSAGE_CHARS]}… ({rest} more characters)"
    return {"error": type(exc).__name__, "message": message}


def _shorten(value: Any, path: str, cut: dict[str, int]) -> Any:
    if isinstance(value, dict):
        return {k: _shorten(v, f"{path}.{k}" if path else str(k), cut) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if len(value) > LIST_KEEP:
            cut[path] = len(value)
        return [_shorten(v, f"{path}[]", cut) for v in value[:LIST_KEEP]]
    return value


def _plain(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= _SCALAR_TEXT
    return value is None or isinstance(value, bool | int | float)
