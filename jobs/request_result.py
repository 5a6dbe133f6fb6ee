"""What a migration, deletion or undo request answers: one typed result.

The request jobs (``migrate_model``, ``delete_model``, ``undo_request``) and the request
controls (pause, resume, cancel) return a :class:`RequestResult` (an undo an
:class:`UndoResult`); the worker stores it as JSON (``model_dump(mode="json")``) and the
CLI reads it back with ``model_validate``. A result's JSON holds the fields it was given
(:class:`jobs.spec.JobResult`): a dry run, a recorded request, a control's answer and an
undo each keep the keys docs/job-format.md shows.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Literal, Self

from pydantic import Field

from db.keys import HostId
from db.models import LlmModel, ModelMigration
from db.models.lifecycle import RequestStatus
from jobs.model_ref import ModelRef
from jobs.spec import JobResult

Kind = Literal["migration", "deletion"]
# A dry run's verdict: what a real run would be (``ok``: it would go ahead).
DryRunStatus = Literal["ok", "rejected"]
FindingKind = Literal["blocker", "warning", "info"]


def _id_or_none(value: HostId | None) -> str | None:
    return str(value) if value else None


class ModelInResult(JobResult):
    """A model a request names: its id (``None`` for a name that names no model), its
    name, and where known its team; a dry run adds what validation looked at."""

    id: str | None
    provider: str | None
    name: str | None
    team_id: str | None = None
    token_limit: int | None = None
    deprecated: bool | None = None
    deprecation_date: date | None = None

    @classmethod
    def of(cls, model: LlmModel) -> Self:
        """A model row as a dry run (and the audit record of a request) shows it."""
        return cls(
            id=str(model.id),
            provider=model.provider,
            name=model.name,
            team_id=str(model.team_id) if model.team_id else None,
            token_limit=model.token_limit,
            deprecated=model.deprecated,
            deprecation_date=model.deprecation_date,
        )

    @classmethod
    def named(cls, ref: ModelRef) -> Self:
        """A model the request names that does not exist, as the request named it."""
        return cls(id=_id_or_none(ref.model_id), provider=ref.provider, name=ref.name)

    @classmethod
    def recorded(cls, model_id: HostId | None, provider: str | None, name: str | None) -> Self:
        """A model as a request row's snapshot columns recorded it."""
        return cls(id=_id_or_none(model_id), provider=provider, name=name)


class FindingRecord(JobResult):
    """One finding of validation: its kind, code and message."""

    kind: FindingKind
    code: str
    message: str

    @property
    def text(self) -> str:
        """``code: message``, as ``messages`` and a rejected request's ``error`` say it."""
        return f"{self.code}: {self.message}"


class CodesByKind(JobResult):
    """The findings' codes, blockers, warnings and info apart."""

    blockers: list[str]
    warnings: list[str]
    info: list[str]


class RequestPlan(JobResult):
    """Rows a request changes (or would change): per reference, and per team
    (``{team id: {reference: rows}}``)."""

    counts: dict[str, int]
    teams: dict[str, dict[str, int]]


class RequestResult(JobResult):
    """A migration or deletion request: a dry run's verdict, or a recorded request as it
    stands (with a control's answer, or the teams told once it succeeded)."""

    status: RequestStatus | DryRunStatus
    dry_run: bool = False
    request_id: str | None = None
    request_key: str
    kind: Kind
    source: ModelInResult
    target: ModelInResult | None
    # The teams the request is limited to, by id (``None``: every team).
    team_scope: list[str] | None
    # The slugs of the teams in ``team_scope``, by id (where the host has them).
    team_slugs: dict[str, str] | None = None
    source_retired: bool
    codes: list[str]
    # Rows changed (so far) per reference, of a recorded request.
    counts: dict[str, int] = Field(default_factory=dict)
    error: str | None = None
    # The verdict, in a dry run and a request refused at admission (its JSON also says
    # ``codes_by_kind`` and ``messages``, derived from these).
    findings: list[FindingRecord] | None = None
    plan: RequestPlan | None = None
    # How many teams were told, once the request succeeded in this run.
    teams: int | None = None
    # A control's answer: whether this call changed the request. ``job_id``: the job that
    # carries a resumed request on (the CLI also adds the job it waited on).
    changed: bool | None = None
    job_id: str | None = None
    # What the worker cut to keep the result small enough (``{path: full length}``).
    truncated: dict[str, int] | None = None

    DERIVED: ClassVar[tuple[str, ...]] = ("codes_by_kind", "messages")

    @classmethod
    def of(cls, row: ModelMigration, **fields: Any) -> Self:
        """A recorded request as it stands (``fields`` given besides, or instead)."""
        target = None
        if row.to_provider is not None or row.to_model_id is not None:
            target = ModelInResult.recorded(row.to_model_id, row.to_provider, row.to_model_name)
        recorded: dict[str, Any] = {
            "status": row.status,
            "request_id": str(row.id),
            "request_key": row.request_key,
            "kind": row.kind,
            "source": ModelInResult.recorded(
                row.from_model_id, row.from_provider, row.from_model_name
            ),
            "target": target,
            "team_scope": None if row.teams is None else list(row.teams),
            "source_retired": bool(row.source_retired),
            "codes": list(row.warnings or []),
            "counts": dict(row.counts or {}),
            "error": row.error,
        }
        return cls(**{**recorded, **fields})

    @property
    def messages(self) -> list[str]:
        """The findings as ``code: message`` strings."""
        return [f.text for f in self.findings or ()]

    @property
    def codes_by_kind(self) -> CodesByKind:
        """The findings' codes by kind."""
        found = self.findings or ()
        return CodesByKind(
            blockers=[f.code for f in found if f.kind == "blocker"],
            warnings=[f.code for f in found if f.kind == "warning"],
            info=[f.code for f in found if f.kind == "info"],
        )

    def rows(self) -> int:
        """Rows changed so far, over every reference."""
        return sum(self.counts.values())

    def derived(self) -> dict[str, Any]:
        """With findings, its JSON also says ``codes_by_kind`` and ``messages``."""
        if self.findings is None:
            return {}
        return {
            "codes_by_kind": self.codes_by_kind.model_dump(mode="json"),
            "messages": self.messages,
        }


class UndoResult(RequestResult):
    """An undo (or its dry run) of a request: the request as it stands, with the rows put
    back (or that would be) and those changed since, per reference. A refused undo says
    ``status: rejected`` and the status the request keeps (``request_status``)."""

    request_status: RequestStatus | None = None
    restored: dict[str, int] = Field(default_factory=dict)
    changed_since: dict[str, int] = Field(default_factory=dict)
    source_mark_cleared: bool = False
    # Models the request had re-pointed that point at the source again, per kind.
    pointers: dict[str, int] = Field(default_factory=dict)
