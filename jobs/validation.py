"""Validation of migration and deletion requests: blockers, warnings, info
(docs/requests-and-rollouts.md)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId
from db.models import LlmModel, ModelMigration
from db.models.lifecycle import RequestStatus
from db.queries.models import get_model
from db.queries.parameters import parameter_pairs
from db.queries.references import (
    Impact,
    impact_by_team,
    impact_of_teams,
    impact_totals,
    usage_by_team,
)
from db.queries.repointing import OutOfScope, Scope, out_of_scope
from db.queries.requests import active_request_for
from db.reference import Reference
from jobs.cost_map import CostMap
from jobs.model_ref import model_label
from jobs.parameters import Target, load_translator, tally
from jobs.request_result import FindingKind, FindingRecord, RequestPlan

BLOCKERS = (
    "same_model",
    "source_not_found",
    "target_not_found",
    "source_migrated",
    "source_deleted",
    "target_migrated",
    "target_deleted",
    "migration_in_progress",
    "team_scope_mismatch",
    "security_level_insufficient",
    "replacement_required",
)
WARNINGS = (
    "target_deprecated",
    "target_retiring",
    "context_window_reduced",
    "capability_lost:vision",
    "capability_lost:tools",
    "capability_lost:reasoning",
    "provider_changed",
    "parameters_dropped",
)
INFO = ("parameters_reset", "parameters_translated")

_CAPABILITIES = (
    ("vision", "supports_vision"),
    ("tools", "supports_tools"),
    ("reasoning", "supports_reasoning"),
)


def describe(model: LlmModel | None) -> str:
    """``provider:name`` (and the owning team for custom models)."""
    if model is None:
        return "?"
    return model_label(model.provider, model.name, model.team_id)


@dataclass
class Finding:
    code: str
    message: str


@dataclass
class Verdict:
    """The outcome of validating one request, with the impact plan it was based on."""

    blockers: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    info: list[Finding] = field(default_factory=list)
    impact: Impact = field(default_factory=dict)
    # Whether the request, done, leaves no live reference to the source (so retires it).
    retires_source: bool = True

    def add(self, code: str, message: str) -> None:
        finding = Finding(code, message)
        if code in BLOCKERS:
            self.blockers.append(finding)
        elif code in WARNINGS:
            self.warnings.append(finding)
        elif code in INFO:
            self.info.append(finding)
        else:
            raise ValueError(f"unknown validation code {code!r}")

    def refused(self, confirm_warnings: bool) -> bool:
        """Blockers always refuse; warnings refuse unless confirmed."""
        return bool(self.blockers) or (bool(self.warnings) and not confirm_warnings)

    def all_codes(self) -> list[str]:
        return [f.code for f in (*self.blockers, *self.warnings, *self.info)]

    def findings(self) -> list[FindingRecord]:
        """Each finding with its kind (blocker, warning, info), code and message."""
        kinds: tuple[tuple[FindingKind, list[Finding]], ...] = (
            ("blocker", self.blockers),
            ("warning", self.warnings),
            ("info", self.info),
        )
        return [
            FindingRecord(kind=kind, code=f.code, message=f.message)
            for kind, found in kinds
            for f in found
        ]

    def plan(self) -> RequestPlan:
        """Rows that would change: totals per label and per team."""
        return RequestPlan(counts=impact_totals(self.impact), teams=impact_by_team(self.impact))


def retired_source(source: LlmModel | None, successor: str | None = None) -> Finding | None:
    """The rule that a request's source is live, as admission and the final transaction
    both apply it (``successor``: where a migrated source went, as ``provider:name``)."""
    if source is None:
        return Finding("source_deleted", "the source model was removed")
    if source.deleted_at is not None:
        return Finding("source_deleted", f"{describe(source)} is already deleted")
    if source.migrated_to_model_id is not None:
        went = successor or str(source.migrated_to_model_id)
        return Finding("source_migrated", f"{describe(source)} was already migrated to {went}")
    return None


def request_in_progress(
    active: ModelMigration | None, source: LlmModel, *, own: uuid.UUID | None = None
) -> Finding | None:
    """The rule of one active request per source: ``active`` (another request than
    ``own``) holds ``source``."""
    if active is None or active.id == own:
        return None
    hint = ""
    if active.status == RequestStatus.PAUSED:
        hint = f" (`lifecycle requests resume|cancel {active.request_key}`)"
    return Finding(
        "migration_in_progress",
        f"request {active.request_key} for {describe(source)} is {active.status}{hint}",
    )


async def _migrated_to(session: AsyncSession, model: LlmModel) -> str:
    """Where ``model`` was migrated to, as ``provider:name`` (its id if the row is gone)."""
    assert model.migrated_to_model_id is not None
    successor = await get_model(session, model.migrated_to_model_id)
    return describe(successor) if successor else str(model.migrated_to_model_id)


async def _target_findings(
    session: AsyncSession, verdict: Verdict, source: LlmModel, target: LlmModel, today: date
) -> None:
    if target.deleted_at is not None:
        verdict.add("target_deleted", f"target {describe(target)} is deleted")
    if target.migrated_to_model_id is not None:
        verdict.add(
            "target_migrated",
            f"target {describe(target)} was migrated to {await _migrated_to(session, target)}",
        )
    date_passed = target.deprecation_date is not None and target.deprecation_date <= today
    if target.deprecated or date_passed:
        verdict.add("target_deprecated", f"target {describe(target)} is deprecated")
    elif target.deprecation_date is not None:
        verdict.add(
            "target_retiring",
            f"target {describe(target)} retires on {target.deprecation_date.isoformat()}",
        )
    if target.token_limit < source.token_limit:
        verdict.add(
            "context_window_reduced",
            f"context window shrinks from {source.token_limit} to {target.token_limit} tokens",
        )
    for name, attr in _CAPABILITIES:
        if getattr(source, attr) and not getattr(target, attr):
            verdict.add(f"capability_lost:{name}", f"target {describe(target)} lacks {name}")
    if source.provider != target.provider:
        verdict.add(
            "provider_changed", f"provider changes from {source.provider} to {target.provider}"
        )


def scope_findings(
    target: LlmModel,
    teams: tuple[HostId, ...] | None,
    found: OutOfScope,
    *,
    meanwhile: bool = False,
) -> list[Finding]:
    """The scope and level rules, as admission and the final transaction both apply them
    to the live references ``found`` outside the request's scope (``meanwhile``: found
    under the source row lock after the batches, so written since admission).

    ``team_scope_mismatch``: a team's custom model would serve another team (a request
    naming any other team, or rows of other teams or of none); ``security_level_insufficient``:
    a space enabling the source asks more than the target's level.
    """
    findings: list[Finding] = []
    named = sorted(str(t) for t in teams or () if t != target.team_id)
    if target.team_id is not None and named:
        findings.append(
            Finding(
                "team_scope_mismatch",
                f"target is team {target.team_id}'s custom model: a request for it may name "
                f"only that team, and this one also names team(s) {', '.join(named)}",
            )
        )
    left = "; they were not moved and the source was not retired" if meanwhile else ""
    now = " now" if meanwhile else ""
    if found.other_teams:
        findings.append(
            Finding(
                "team_scope_mismatch",
                f"target is team {target.team_id}'s custom model but other teams (or global "
                f"configuration){now} use the source: {_listed(found.other_teams)}{left}",
            )
        )
    if found.above_level:
        findings.append(
            Finding(
                "security_level_insufficient",
                f"spaces requiring a level above the target's ({target.security_level or 0})"
                f"{now} enable the source: {_listed(found.above_level)}{left}",
            )
        )
    return findings


def _listed(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {label}" for label, n in counts.items())


async def _scope_and_security(
    session: AsyncSession,
    verdict: Verdict,
    source: LlmModel,
    target: LlmModel,
    references: tuple[Reference, ...],
    teams: tuple[HostId, ...] | None,
) -> None:
    found = await out_of_scope(session, references, source.id, Scope.of(target, teams))
    for finding in scope_findings(target, teams, found):
        verdict.add(finding.code, finding.message)


async def _parameter_findings(
    session: AsyncSession,
    verdict: Verdict,
    source: LlmModel,
    target: LlmModel,
    references: tuple[Reference, ...],
    cost_map: CostMap | None,
    teams: tuple[HostId, ...] | None,
) -> None:
    """``parameters_translated`` (each change, with rows) and ``parameters_dropped``
    (each key the target does not take) for references whose parameters move along."""
    carried = [r for r in references if r.parameters and r.label in verdict.impact]
    if not carried:
        return
    await load_translator()
    goal = Target.of(target.provider, target.name, target.litellm_model, cost_map)
    for ref in carried:
        pairs = await parameter_pairs(session, ref, source.id, teams)
        found = tally(
            f"{ref.label}.{ref.parameters}", goal, ((p.key, p.value, p.rows) for p in pairs)
        )
        changes = found.lines("renamed", "clamped", "unchecked")
        kept = sum(n for (action, _, _), n in found.changes.items() if action == "kept")
        summary = f"{ref.label}.{ref.parameters}: {kept} value(s) kept as they are"
        verdict.add("parameters_translated", "; ".join([*changes, summary]))
        dropped = found.lines("dropped")
        if dropped:
            verdict.add(
                "parameters_dropped",
                f"{describe(target)} does not take them: " + "; ".join(dropped),
            )


async def validate_request(
    session: AsyncSession,
    *,
    kind: str,
    source: LlmModel | None,
    target: LlmModel | None,
    target_named: bool,
    today: date,
    references: tuple[Reference, ...],
    cost_map: CostMap | None = None,
    teams: tuple[HostId, ...] | None = None,
) -> Verdict:
    """Validate a migration (``target`` required) or deletion (``target`` optional)
    against the live ``references`` of the host platform (``cost_map``: the target's
    output-token limit, for parameters carried along), those of ``teams`` only when the
    request names its teams."""
    verdict = Verdict()
    if source is None:
        verdict.add("source_not_found", "the model to migrate or delete does not exist")
    if target_named and target is None:
        verdict.add("target_not_found", "the target model does not exist")
    if source is None:
        return verdict
    if target is not None and target.id == source.id:
        verdict.add("same_model", f"source and target are both {describe(source)}")
        return verdict
    successor = await _migrated_to(session, source) if source.migrated_to_model_id else None
    for finding in (
        retired_source(source, successor),
        request_in_progress(await active_request_for(session, source.id), source),
    ):
        if finding is not None:
            verdict.add(finding.code, finding.message)
    await _impact(session, verdict, source, references, teams)
    if target is not None:
        await _target_findings(session, verdict, source, target, today)
        await _scope_and_security(session, verdict, source, target, references, teams)
    elif kind == "deletion":
        stuck = {
            ref.label: verdict.impact[ref.label].total
            for ref in references
            if not ref.clearable and ref.label in verdict.impact
        }
        if stuck:
            listed = ", ".join(f"{n} {label}" for label, n in stuck.items())
            verdict.add(
                "replacement_required",
                f"{listed} cannot be left without a model: name a replacement",
            )
    resets = [ref.label for ref in references if ref.reset_on_move and ref.label in verdict.impact]
    if target is not None and resets:
        n = sum(verdict.impact[label].total for label in resets)
        verdict.add("parameters_reset", f"model parameters of {n} {'/'.join(resets)} reset to {{}}")
    if target is not None:
        await _parameter_findings(session, verdict, source, target, references, cost_map, teams)
    return verdict


async def _impact(
    session: AsyncSession,
    verdict: Verdict,
    source: LlmModel,
    references: tuple[Reference, ...],
    teams: tuple[HostId, ...] | None,
) -> None:
    """The rows the request covers (its teams' only, when it names teams), and whether
    it covers every live reference to the source (then it retires it)."""
    everything = await usage_by_team(session, source.id, references)
    if teams is None:
        verdict.impact = everything
        return
    verdict.impact = impact_of_teams(everything, teams)
    verdict.retires_source = impact_totals(verdict.impact) == impact_totals(everything)
