"""SQL of a model's history: the requests that name it and the audit of its hard delete.

A request names a model by id while the model row exists (and on a mapped host, where the
column has no foreign key, after it is gone). On the reference platform the hard delete
clears the request's link (``ON DELETE SET NULL``), so the cleanup keeps the ids of the
requests from and to the model in its ``model.hard_deleted`` audit row; that list, not
the name, ties them to the one model they named.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, Text, and_, cast, func, not_, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId
from db.models import AuditEvent, ModelMigration
from db.queries.models import model_id_is, nothing

HARD_DELETED = "model.hard_deleted"
# The audit keys listing the requests from and to a hard-deleted model.
REQUESTS_FROM = "requests_from"
REQUESTS_TO = "requests_to"
# Requests listed per model in its hard-delete audit (newest first).
AUDITED_REQUESTS = 1000


async def request_ids_of_model(session: AsyncSession, model_id: HostId) -> dict[str, list[str]]:
    """``{requests_from: [id, …], requests_to: [id, …]}``: the requests naming ``model_id``
    by id, newest first, as the hard-delete audit keeps them."""
    found: dict[str, list[str]] = {}
    for key, column in (
        (REQUESTS_FROM, ModelMigration.from_model_id),
        (REQUESTS_TO, ModelMigration.to_model_id),
    ):
        ids = await session.scalars(
            select(ModelMigration.id)
            .where(column == model_id)
            .order_by(ModelMigration.created_at.desc())
            .limit(AUDITED_REQUESTS)
        )
        found[key] = [str(i) for i in ids]
    return found


async def hard_deletions(
    session: AsyncSession,
    *,
    model_ids: Sequence[HostId] = (),
    global_name: tuple[str, str] | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    """``model.hard_deleted`` audit rows of ``model_ids`` and of the global models named
    ``global_name`` (provider, name); newest first. Neither given: every one."""
    stmt = select(AuditEvent).where(AuditEvent.action == HARD_DELETED)
    if model_ids or global_name:
        named = nothing()
        if global_name is not None:
            provider, name = global_name
            named = and_(
                AuditEvent.details["provider"].astext == provider,
                AuditEvent.details["name"].astext == name,
                func.coalesce(AuditEvent.details["team_id"].astext, "") == "",
            )
        stmt = stmt.where(or_(model_id_is(AuditEvent.model_id, model_ids), named))
    stmt = stmt.order_by(AuditEvent.created_at.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def audits_claiming(session: AsyncSession, request_ids: Sequence[str]) -> list[AuditEvent]:
    """Hard-delete audit rows that list any of ``request_ids`` as from or to their model."""
    if not request_ids:
        return []
    ids = cast(list(request_ids), ARRAY(String))
    stmt = select(AuditEvent).where(
        AuditEvent.action == HARD_DELETED,
        or_(
            AuditEvent.details[REQUESTS_FROM].has_any(ids),
            AuditEvent.details[REQUESTS_TO].has_any(ids),
        ),
    )
    return list((await session.execute(stmt)).scalars())


async def requests_naming(
    session: AsyncSession,
    *,
    model_ids: Sequence[HostId] = (),
    request_ids: Sequence[str] = (),
    unlinked_name: tuple[str, str] | None = None,
    limit: int = 200,
) -> list[ModelMigration]:
    """Requests from or to one of ``model_ids``, with one of ``request_ids``, or (with
    ``unlinked_name``) naming that ``provider:name`` with no model link that no hard-delete
    audit claims: a request that named a model that did not exist. Newest first; none of
    the three given: every request."""
    stmt = select(ModelMigration)
    if model_ids or request_ids or unlinked_name:
        wanted = [
            model_id_is(ModelMigration.from_model_id, model_ids),
            model_id_is(ModelMigration.to_model_id, model_ids),
        ]
        if request_ids:
            wanted.append(ModelMigration.id.in_([uuid.UUID(i) for i in request_ids]))
        if unlinked_name is not None:
            wanted.append(_unclaimed(*unlinked_name))
        stmt = stmt.where(or_(*wanted))
    stmt = stmt.order_by(ModelMigration.created_at.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


def _unclaimed(provider: str, name: str) -> Any:
    request_id = cast(ModelMigration.id, Text)
    claimed = (
        select(AuditEvent.id)
        .where(
            AuditEvent.action == HARD_DELETED,
            or_(
                AuditEvent.details[REQUESTS_FROM].has_key(request_id),
                AuditEvent.details[REQUESTS_TO].has_key(request_id),
            ),
        )
        .exists()
    )
    return and_(
        or_(
            and_(
                ModelMigration.from_model_id.is_(None),
                ModelMigration.from_provider == provider,
                ModelMigration.from_model_name == name,
            ),
            and_(
                ModelMigration.to_model_id.is_(None),
                ModelMigration.to_provider == provider,
                ModelMigration.to_model_name == name,
            ),
        ),
        not_(claimed),
    )
