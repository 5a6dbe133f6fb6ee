"""A model's history: the migration and deletion requests that named it, and its hard delete.

A model is one row: named by id, it is that id; named ``provider:name``, it is the global
model of that name (the rows it has had, hard-deleted ones included). A team's custom
model of the same name is another model and never shows up in its history. Every model
is shown with its team when it has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId, id_text
from db.models import AuditEvent, ModelMigration
from db.queries.audit import model_name_from_audit
from db.queries.history import (
    REQUESTS_FROM,
    REQUESTS_TO,
    audits_claiming,
    hard_deletions,
    requests_naming,
)
from db.queries.models import find_model_by_id_text, find_models_by_name, model_names
from jobs.model_ref import ModelRef, model_label

HISTORY_LIMIT = 200
LISTS = (REQUESTS_FROM, REQUESTS_TO)


@dataclass(frozen=True)
class _Named:
    """What history knows of one model: the rows it may have, its hard-delete audits, and
    the name of requests that named it while it did not exist (or before their audits
    listed them)."""

    model_ids: list[HostId]
    deletions: list[AuditEvent]
    unlinked_name: tuple[str, str] | None
    known: bool


async def _by_id(session: AsyncSession, model_id: HostId) -> _Named:
    row = await find_model_by_id_text(session, model_id)
    deletions = await hard_deletions(session, model_ids=[model_id])
    unlinked = None
    if row is None and (not deletions or any(REQUESTS_FROM not in d.details for d in deletions)):
        # Hard-deleted before the audit listed its requests: its name is the best link.
        unlinked = await model_name_from_audit(session, model_id)
    return _Named([model_id], deletions, unlinked, row is not None or bool(deletions or unlinked))


async def _by_global_name(session: AsyncSession, provider: str, name: str) -> _Named:
    rows = [m for m in await find_models_by_name(session, provider, name) if m.team_id is None]
    ids = [m.id for m in rows]
    deletions = await hard_deletions(session, model_ids=ids, global_name=(provider, name))
    ids += [d.model_id for d in deletions if d.model_id is not None]
    return _Named(ids, deletions, (provider, name), bool(rows or deletions))


async def model_history(
    session: AsyncSession, ref: ModelRef | None, limit: int = HISTORY_LIMIT
) -> list[dict[str, Any]] | None:
    """JSON-ready history rows of ``ref`` (everything without one), newest first;
    ``None`` when ``ref`` names nothing known (no row, no request, no audit)."""
    if ref is None:
        requests = await requests_naming(session, limit=limit)
        deletions = await hard_deletions(session, limit=limit)
    else:
        if ref.model_id is not None:
            named = await _by_id(session, ref.model_id)
        else:
            assert ref.provider is not None and ref.name is not None
            named = await _by_global_name(session, ref.provider, ref.name)
        deletions = named.deletions
        listed = [i for d in deletions for key in LISTS for i in d.details.get(key, [])]
        requests = await requests_naming(
            session,
            model_ids=named.model_ids,
            request_ids=listed,
            unlinked_name=named.unlinked_name,
            limit=limit,
        )
        if not (named.known or requests):
            return None
    teams = await _Teams.read(session, requests, deletions)
    rows = [teams.request_row(r) for r in requests] + [teams.deletion_row(d) for d in deletions]
    rows.sort(key=lambda r: r["created_at"], reverse=True)
    return rows[:limit]


@dataclass(frozen=True)
class _Teams:
    """Each model's team: from its row, or from its hard-delete audit once it is gone."""

    of_model: dict[str, HostId | str | None]
    of_request: dict[tuple[str, str], HostId | str | None]

    @classmethod
    async def read(
        cls, session: AsyncSession, requests: list[ModelMigration], deletions: list[AuditEvent]
    ) -> _Teams:
        linked = {m for r in requests for m in (r.from_model_id, r.to_model_id) if m is not None}
        of_model: dict[str, HostId | str | None] = {
            key: team for key, (_, _, team) in (await model_names(session, list(linked))).items()
        }
        gone = [m for m in linked if id_text(m) not in of_model]
        audits = list(deletions)
        if gone:
            audits += await hard_deletions(session, model_ids=gone)
        unlinked = [str(r.id) for r in requests if r.from_model_id is None or r.to_model_id is None]
        audits += await audits_claiming(session, unlinked)
        of_request: dict[tuple[str, str], HostId | str | None] = {}
        for audit in audits:
            team = audit.details.get("team_id") or None
            if audit.model_id is not None:
                of_model.setdefault(id_text(audit.model_id), team)
            for side, key in zip(("from", "to"), LISTS, strict=True):
                for request_id in audit.details.get(key, []):
                    of_request[(request_id, side)] = team
        return cls(of_model, of_request)

    def team(self, request: ModelMigration, side: str) -> HostId | str | None:
        model_id = request.from_model_id if side == "from" else request.to_model_id
        if model_id is not None:
            return self.of_model.get(id_text(model_id))
        return self.of_request.get((str(request.id), side))

    def request_row(self, r: ModelMigration) -> dict[str, Any]:
        from_team, to_team = self.team(r, "from"), self.team(r, "to")
        return {
            "id": str(r.id),
            "created_at": r.created_at.isoformat(),
            "kind": r.kind,
            "status": r.status,
            "from": model_label(r.from_provider, r.from_model_name, from_team),
            "from_model_id": _text(r.from_model_id),
            "from_team_id": _text(from_team),
            "to": model_label(r.to_provider, r.to_model_name, to_team) if r.to_model_name else None,
            "to_model_id": _text(r.to_model_id),
            "to_team_id": _text(to_team),
            # A rejected request changed nothing: its counts are what it would have changed.
            "counts": dict(r.counts or {}),
            "counts_are": "would_have_changed" if r.status == "rejected" else "changed",
            "codes": list(r.warnings or []),
            "requested_by": r.requested_by,
            "request_key": r.request_key,
            "error": r.error,
        }

    def deletion_row(self, audit: AuditEvent) -> dict[str, Any]:
        details = audit.details
        team = details.get("team_id") or None
        return {
            "id": str(audit.id),
            "created_at": audit.created_at.isoformat(),
            "kind": "hard_deletion",
            "status": "succeeded",
            "from": model_label(details.get("provider"), details.get("name"), team),
            "from_model_id": _text(audit.model_id),
            "from_team_id": _text(team),
            "to": None,
            "to_model_id": None,
            "to_team_id": None,
            # Rows that were not live, repointed to the model's successor or cleared.
            "counts": dict(details.get("repointed") or {}),
            "counts_are": "changed",
            "codes": [],
            "requested_by": audit.actor,
            "request_key": None,
            "error": None,
        }


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)
