"""Admission of migration and deletion requests: payloads, validation, request rows.

A request is validated and recorded once under its ``request_key`` (refusals are
recorded too, as ``rejected``); :mod:`jobs.request_execution` then carries it out.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from pydantic import Field, field_validator
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.faults import violated_constraint
from db.keys import HostId, id_text, parse_host_id
from db.models import LlmModel, ModelMigration
from db.models.lifecycle import RequestStatus
from db.platform.host import Platform
from db.queries import requests as rq
from db.queries.models import model_names
from db.queries.notifications import team_slugs
from db.reference import Reference
from jobs.cost_map import CostMap
from jobs.deprecation import read_cost_map
from jobs.errors import RequestRefused
from jobs.model_ref import ModelRef, ModelRefError, parse_model_ref, resolve_model_ref
from jobs.overview import resolve_team
from jobs.request_result import Kind, ModelInResult, RequestResult
from jobs.run_log import utc_today
from jobs.runtime import Runtime
from jobs.spec import Payload
from jobs.validation import Verdict, describe, validate_request

R = TypeVar("R", bound=RequestResult)


def _team_texts(values: Any) -> list[str] | None:
    """The teams a request names (ids or slugs; a whole-number id may come as a number),
    stripped, each once. An empty name is bad input, and so is an empty list: a request
    for no team at all is a mistake, not "every team" (leave ``teams`` out for that)."""
    if values is None:
        return None
    if not isinstance(values, list | tuple):
        raise ValueError("teams: a list of team ids or slugs")
    if not values:
        raise ValueError("teams: name at least one team (leave teams out for every team)")
    texts = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(f"teams: {value!r} is not a team id or slug")
        text = str(value).strip()
        if not text:
            raise ValueError("teams: a team id or slug cannot be empty")
        texts.append(text)
    return list(dict.fromkeys(texts))


def _team_identity(teams: list[str] | None) -> tuple[str, ...] | None:
    return None if teams is None else tuple(sorted(teams))


def _model_text(value: str) -> str:
    try:
        parse_model_ref(value)
    except ModelRefError as exc:
        raise ValueError(str(exc)) from exc
    return value.strip()


class MigrateModelPayload(Payload):
    source: str
    target: str
    requested_by: str = Field(min_length=1, max_length=200)
    request_key: str = Field(min_length=1, max_length=200)
    confirm_warnings: bool = False
    dry_run: bool = False
    # Team ids or slugs the request is limited to (``None``: every team).
    teams: list[str] | None = None

    _check_models = field_validator("source", "target")(_model_text)
    _check_teams = field_validator("teams", mode="before")(_team_texts)

    def request_identity(self) -> tuple[Any, ...]:
        return (
            "migration",
            _canonical(self.source),
            _canonical(self.target),
            _team_identity(self.teams),
        )


class DeleteModelPayload(Payload):
    model: str
    replacement: str | None = None
    requested_by: str = Field(min_length=1, max_length=200)
    request_key: str = Field(min_length=1, max_length=200)
    dry_run: bool = False
    teams: list[str] | None = None

    _check_models = field_validator("model", "replacement")(
        lambda v: None if v is None else _model_text(v)
    )
    _check_teams = field_validator("teams", mode="before")(_team_texts)

    def request_identity(self) -> tuple[Any, ...]:
        replacement = None if self.replacement is None else _canonical(self.replacement)
        return ("deletion", _canonical(self.model), replacement, _team_identity(self.teams))


def _canonical(value: str) -> str:
    return str(parse_model_ref(value))


@dataclass(frozen=True)
class Request:
    """A migration or deletion request in one shape."""

    kind: Kind
    source: str
    target: str | None
    requested_by: str
    request_key: str
    confirm_warnings: bool
    # The teams it is limited to (``None``: every team): ids or slugs as asked, ids (in
    # their canonical text, sorted) once :func:`with_team_ids` resolved them.
    teams: tuple[str, ...] | None = None
    # ``source`` and ``target`` parsed once, here, and carried through the request.
    source_ref: ModelRef = dataclasses.field(init=False, repr=False, compare=False)
    target_ref: ModelRef | None = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "source_ref", parse_model_ref(self.source))
        target = None if self.target is None else parse_model_ref(self.target)
        object.__setattr__(self, "target_ref", target)

    def team_ids(self) -> tuple[HostId, ...] | None:
        """The (resolved) teams as host ids."""
        return None if self.teams is None else tuple(parse_host_id(t) for t in self.teams)

    @classmethod
    def of(cls, payload: MigrateModelPayload | DeleteModelPayload) -> Request:
        if isinstance(payload, MigrateModelPayload):
            return cls(
                "migration",
                payload.source,
                payload.target,
                payload.requested_by,
                payload.request_key,
                payload.confirm_warnings,
                _team_tuple(payload.teams),
            )
        # Deleting is the operator's decision; warnings about the replacement are
        # recorded and reported, not a reason to keep a dead model.
        return cls(
            "deletion",
            payload.model,
            payload.replacement,
            payload.requested_by,
            payload.request_key,
            True,
            _team_tuple(payload.teams),
        )


def _team_tuple(teams: list[str] | None) -> tuple[str, ...] | None:
    return None if teams is None else tuple(teams)


async def with_team_ids(runtime: Runtime, request: Request) -> Request:
    """The request with its teams named by id (each once, sorted), resolved as
    ``lifecycle models --team`` resolves a team (its id or its slug).

    An unknown team refuses the request (``team_not_found``) before anything is recorded:
    the request has no identity yet, so its key stays free for the corrected request.
    """
    if request.teams is None:
        return request
    found = {value: await resolve_team(runtime, value) for value in request.teams}
    unknown = [value for value, team in found.items() if team is None]
    if unknown:
        raise RequestRefused(
            "team_not_found",
            f"no team has the id or slug {', '.join(repr(v) for v in unknown)}; nothing was "
            "recorded or changed",
        )
    ids = sorted({id_text(team.id) for team in found.values() if team is not None})
    return dataclasses.replace(request, teams=tuple(ids))


async def resolve_request(
    session: AsyncSession, request: Request
) -> tuple[LlmModel | None, LlmModel | None]:
    """The source and target rows the request names (``None`` where missing)."""
    source = await resolve_model_ref(session, request.source_ref)
    target = None
    if request.target_ref is not None:
        target = await resolve_model_ref(session, request.target_ref)
    return source, target


async def plan_request(
    session: AsyncSession,
    request: Request,
    *,
    references: tuple[Reference, ...],
    today: date | None = None,
    cost_map: CostMap | None = None,
) -> tuple[LlmModel | None, LlmModel | None, Verdict]:
    """Validate and plan against the live ``references`` without changing anything."""
    source, target = await resolve_request(session, request)
    verdict = await validate_request(
        session,
        kind=request.kind,
        source=source,
        target=target,
        target_named=request.target is not None,
        today=today or utc_today(),
        references=references,
        cost_map=cost_map,
        teams=request.team_ids(),
    )
    return source, target, verdict


async def parameters_cost_map(runtime: Runtime, request: Request) -> CostMap | None:
    """The cost map (targets' output limits) when a migration carries parameters."""
    carries = any(ref.parameters for ref in runtime.platform.live())
    if request.target is None or not carries:
        return None
    return await read_cost_map(runtime.settings)


async def preview_request(
    runtime: Runtime, request: Request, *, today: date | None = None
) -> RequestResult:
    """The dry run: the verdict, its findings and exact per-team counts, and whether the
    source would be retired; records nothing."""
    request = await with_team_ids(runtime, request)
    cost_map = await parameters_cost_map(runtime, request)
    async with runtime.sessions() as session:
        source, target, verdict = await plan_request(
            session, request, references=runtime.platform.live(), today=today, cost_map=cost_map
        )
    tgt_ref = request.target_ref
    result = RequestResult(
        status="rejected" if verdict.refused(request.confirm_warnings) else "ok",
        dry_run=True,
        kind=request.kind,
        request_key=request.request_key,
        source=ModelInResult.of(source) if source else ModelInResult.named(request.source_ref),
        target=ModelInResult.of(target)
        if target
        else (ModelInResult.named(tgt_ref) if tgt_ref else None),
        team_scope=None if request.teams is None else list(request.teams),
        source_retired=verdict.retires_source,
        codes=verdict.all_codes(),
        findings=verdict.findings(),
        plan=verdict.plan(),
    )
    async with runtime.sessions() as session:
        return await name_teams(session, runtime.platform, result)


async def name_teams(session: AsyncSession, platform: Platform, result: R) -> R:
    """The result with ``team_id`` on its source and target (where they have an id): a
    team's custom model is never shown as if it were the global model of its name; and
    the slugs of the teams it is limited to in ``team_slugs``, as an operator names them
    on the command line."""
    source, target = await named_with_teams(session, [result.source, result.target])
    assert source is not None
    named: dict[str, Any] = {"source": source, "target": target}
    if result.team_scope:
        slugs = await team_slugs(session, platform, result.team_scope)
        if slugs:
            named["team_slugs"] = slugs
    return result.model_copy(update=named)


async def named_with_teams(
    session: AsyncSession, models: list[ModelInResult | None]
) -> list[ModelInResult | None]:
    """``models`` with ``team_id`` given to each one that has an id."""
    found = await model_names(session, [parse_host_id(m.id) for m in models if m and m.id])
    named: list[ModelInResult | None] = []
    for model in models:
        if model is None or not model.id:
            named.append(model)
            continue
        known = found.get(id_text(parse_host_id(model.id)))
        team = known[2] if known is not None else None
        named.append(model.model_copy(update={"team_id": str(team) if team is not None else None}))
    return named


def _snapshot_columns(
    source: LlmModel | None, target: LlmModel | None, request: Request
) -> dict[str, Any]:
    src_ref, tgt_ref = request.source_ref, request.target_ref
    return {
        "from_model_id": source.id if source else None,
        "to_model_id": target.id if target else None,
        "from_provider": source.provider if source else src_ref.provider,
        "from_model_name": source.name if source else src_ref.name,
        "to_provider": target.provider if target else (tgt_ref.provider if tgt_ref else None),
        "to_model_name": target.name if target else (tgt_ref.name if tgt_ref else None),
    }


async def _insert_request(
    runtime: Runtime,
    request: Request,
    source: LlmModel | None,
    target: LlmModel | None,
    verdict: Verdict,
    planned: dict[str, int] | None = None,
    **values: Any,
) -> uuid.UUID:
    """Record the request with its codes and name snapshots (and, when ``planned``, its
    progress rows per reference), in its own transaction."""
    async with runtime.sessions() as session, session.begin():
        request_id = await rq.insert_request(
            session,
            kind=request.kind,
            request_key=request.request_key,
            requested_by=request.requested_by,
            teams=None if request.teams is None else list(request.teams),
            warnings=verdict.all_codes(),
            **{**_snapshot_columns(source, target, request), **values},
        )
        if planned is not None:
            await rq.plan_progress(session, request_id, planned)
        return request_id


async def _record_rejection(
    runtime: Runtime,
    request: Request,
    source: LlmModel | None,
    target: LlmModel | None,
    verdict: Verdict,
    **columns: Any,
) -> RequestResult:
    """Record the request as ``rejected`` with the verdict's codes; its result."""
    findings, plan = verdict.findings(), verdict.plan()
    request_id = await _insert_request(
        runtime,
        request,
        source,
        target,
        verdict,
        **columns,
        status=RequestStatus.REJECTED,
        counts=plan.counts,
        error="; ".join(f.text for f in findings),
        finished_at=func.now(),
    )
    async with runtime.sessions() as session:
        row = await rq.get_request(session, request_id=request_id)
    assert row is not None
    return RequestResult.of(row, findings=findings, plan=plan)


async def admit_request(
    runtime: Runtime, request: Request, *, today: date | None = None
) -> tuple[uuid.UUID | None, RequestResult | None]:
    """Validate and record a new request: (id to execute, None) or (None, rejection).

    (None, None) means the same key was recorded concurrently: the caller reloads it.
    """
    cost_map = await parameters_cost_map(runtime, request)
    async with runtime.sessions() as session, session.begin():
        source, target, verdict = await plan_request(
            session, request, references=runtime.platform.live(), today=today, cost_map=cost_map
        )
    try:
        if verdict.refused(request.confirm_warnings):
            return None, await _record_rejection(runtime, request, source, target, verdict)
        assert source is not None
        # The rows planned per reference go to the request's progress rows (done and the
        # cursor follow there, batch by batch); ``progress`` keeps the request's phase.
        progress = {"phase": "pending"}
        try:
            request_id = await _insert_request(
                runtime,
                request,
                source,
                target,
                verdict,
                status=RequestStatus.PENDING,
                planned=verdict.plan().counts,
                progress=progress,
                # Every row it changes is journaled: it can be undone.
                journaled=True,
            )
        except IntegrityError as exc:
            violated = violated_constraint(exc)
            for constraint, code, column in (
                (rq.SOURCE_FK, "source_not_found", "from_model_id"),
                (rq.TARGET_FK, "target_not_found", "to_model_id"),
            ):
                if violated == constraint:
                    # Hard-deleted (by the cleanup) since it was read: recorded by name.
                    verdict.add(code, "the model was removed while the request was admitted")
                    return None, await _record_rejection(
                        runtime, request, source, target, verdict, **{column: None}
                    )
            if violated != rq.ACTIVE_SOURCE_INDEX:
                raise
            verdict.add(
                "migration_in_progress", f"another request for {describe(source)} is running"
            )
            return None, await _record_rejection(runtime, request, source, target, verdict)
    except IntegrityError as exc:
        if violated_constraint(exc) == rq.REQUEST_KEY_CONSTRAINT:
            return None, None
        raise
    return request_id, None


def _names_same(
    stored_id: HostId | None,
    stored_name: tuple[str | None, str | None],
    ref: ModelRef | None,
    now: LlmModel | None,
) -> bool:
    """Whether ``ref`` (resolving to ``now``) names the model a stored request recorded."""
    if ref is None:
        return stored_id is None and stored_name == (None, None)
    if stored_id is not None or now is not None:
        return now is not None and now.id == stored_id
    # Neither exists any more (or ever did): compare what was written.
    if ref.model_id is not None:
        return True
    return stored_name == (ref.provider, ref.name)


async def check_same_request(runtime: Runtime, row: ModelMigration, request: Request) -> None:
    """A request key names one request: refuse another kind, source or target under it."""
    src, tgt = request.source_ref, request.target_ref
    async with runtime.sessions() as session:
        source, target = await resolve_request(session, request)
    same = (
        row.kind == request.kind
        and _names_same(row.from_model_id, (row.from_provider, row.from_model_name), src, source)
        and _names_same(row.to_model_id, (row.to_provider, row.to_model_name), tgt, target)
        and _team_identity(row.teams) == _team_identity(_listed(request.teams))
    )
    if not same:
        recorded = f"{row.from_provider}:{row.from_model_name}"
        if row.to_provider is not None or row.to_model_id is not None:
            recorded += f" -> {row.to_provider}:{row.to_model_name}"
        recorded += _for_teams(row.teams)
        asked = request.source + (f" -> {request.target}" if request.target else "")
        asked += _for_teams(_listed(request.teams))
        raise RequestRefused(
            "request_key_conflict",
            f"request_key {request.request_key!r} already names the {row.kind} {recorded} "
            f"({row.status}); this {request.kind} {asked} needs a key of its own",
        )


def _listed(teams: tuple[str, ...] | None) -> list[str] | None:
    return None if teams is None else list(teams)


def _for_teams(teams: list[str] | None) -> str:
    """`` for team(s) 3, 7`` (nothing for a request of every team)."""
    return "" if teams is None else f" for team(s) {', '.join(teams)}"
