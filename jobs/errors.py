"""Errors jobs raise, split by whether running again could help."""

from __future__ import annotations


class PermanentJobError(Exception):
    """The job cannot succeed by running again (bad input, refused request)."""

    code = "job_failed"


class InvalidPayload(PermanentJobError):
    """The job's payload failed validation; it is never retried."""

    code = "invalid_payload"


class TransientJobError(Exception):
    """A fault that may go away (lost connection, lock timeout); retried with backoff."""
