"""Declaration of jobs and cron schedules: names, payload models, plain async functions."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from jobs.config import JobConfig
from jobs.runtime import Runtime

_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.:@/-]{1,128}$")
# The largest value of a PostgreSQL ``integer`` column.
INT4_MAX = 2_147_483_647


def refuse_nul(value: Any) -> Any:
    """PostgreSQL text cannot hold a NUL character: refuse it as bad input, up front."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


class Payload(BaseModel):
    """Base of every job payload: unknown keys are refused, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    _no_nul = field_validator("*")(refuse_nul)

    def request_identity(self) -> tuple[Any, ...] | None:
        """What names this request under its key (``None``: the key is all there is).

        Two payloads with different identities must never share an idempotency key.
        """
        return None


class EmptyPayload(Payload):
    """For jobs that take no arguments."""


class JobResult(BaseModel):
    """Base of a job's typed result, which the worker stores as ``model_dump(mode="json")``.

    Its JSON holds the fields it was given (a field left at its default is left out), so
    one model answers each of a job's paths with the keys that path has; and the keys a
    result derives from its fields (``DERIVED``), which reading it back ignores.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    DERIVED: ClassVar[tuple[str, ...]] = ()

    def derived(self) -> dict[str, Any]:
        """The derived keys of this result's JSON, as JSON values."""
        return {}

    @model_validator(mode="before")
    @classmethod
    def _without_derived(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.DERIVED:
            return {k: v for k, v in data.items() if k not in cls.DERIVED}
        return data

    @model_serializer(mode="wrap")
    def _given_fields(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = {k: v for k, v in handler(self).items() if k in self.model_fields_set}
        return {**data, **self.derived()}


@dataclass(frozen=True)
class JobSpec:
    """One ARQ job. ``run`` is the plain function that tests call directly."""

    name: str
    payload: type[Payload]
    # The result: a typed one (stored as its JSON) or a JSON object as it is.
    run: Callable[[Runtime, Any], Awaitable[JobResult | dict[str, Any]]]
    timeout_seconds: int | None = None
    max_tries: int | None = None
    # Called (with the parsed payload) instead of ``run`` once the job's tries are spent,
    # to close what the crashed tries left open; the job then fails.
    give_up: Callable[[Runtime, Any], Awaitable[None]] | None = None


@dataclass(frozen=True)
class CronSpec:
    """A periodic run of a job. ``schedule`` maps settings to ``arq.cron`` keywords."""

    job: str
    schedule: Callable[[JobConfig], dict[str, Any]]
    payload: dict[str, Any] = field(default_factory=dict)


def job_id_for(job: str, key: str, namespace: str) -> str:
    """The ARQ job id for an idempotency ``key``: the same key always maps to one job.

    ARQ job ids are global in Redis, so they carry the queue name (``namespace``): two
    deployments sharing one Redis under different queue names never de-duplicate (and so
    silently skip) each other's jobs.
    """
    if _SAFE_KEY.match(key):
        return f"{namespace}:{job}:{key}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{namespace}:{job}:h:{digest}"
