"""Errors jobs raise, split by whether running again could help."""

from __future__ import annotations


class PermanentJobError(Exception):
    """The job cannot succeed by running again (bad input, refused request)."""

    code = "job_failed"


class InvalidPayload(PermanentJobError):
    """The job's payload failed validation; it is never retried."""

    code = "invalid_payload"


class RequestRefused(PermanentJobError):
    """A request cannot go on, for a reason that has a code (docs/requests-and-rollouts.md and
    ``request_key_conflict``); the message starts with the code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class TransientJobError(Exception):
    """A fault that may go away (lost connection, lock timeout); retried with backoff."""
