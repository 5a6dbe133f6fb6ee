"""The scope race, shared by its integration and fault tests: a global model used by one
team is migrated to that team's custom model, and while it runs rows the request was not
admitted for are written onto the source, following the main application's protocol."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db import models as m
from tests.factories import Factory


@dataclass(frozen=True)
class ScopeWorld:
    owner: uuid.UUID  # the team that uses the source and owns the target
    other: uuid.UUID  # a team that does not
    source: uuid.UUID  # a global model
    target: uuid.UUID  # the owner's custom model, security level 1
    apps: int


async def seed_scope_world(factory: Factory, apps: int) -> ScopeWorld:
    owner, other = await factory.team(), await factory.team()
    source = await factory.model("shared-global", security_level=1)
    target = await factory.model("owners-custom", team_id=owner, security_level=1)
    for _ in range(apps):
        await factory.app(owner, source)
    await factory.space(owner, [source], required_security_level=1)
    return ScopeWorld(owner, other, source, target, apps)


LateWrite = Callable[[AsyncConnection, ScopeWorld], Awaitable[None]]


async def _other_team_assistant_and_space(conn: AsyncConnection, w: ScopeWorld) -> None:
    await conn.execute(
        insert(m.Assistant.__table__).values(team_id=w.other, name="late", llm_model_id=w.source)
    )
    space = await conn.scalar(
        insert(m.Space.__table__).values(team_id=w.other, name="late").returning(m.Space.id)
    )
    await conn.execute(insert(m.SpaceModel.__table__).values(space_id=space, llm_model_id=w.source))


async def _owner_space_above_the_target_level(conn: AsyncConnection, w: ScopeWorld) -> None:
    space = await conn.scalar(
        insert(m.Space.__table__)
        .values(team_id=w.owner, name="secret", required_security_level=5)
        .returning(m.Space.id)
    )
    await conn.execute(insert(m.SpaceModel.__table__).values(space_id=space, llm_model_id=w.source))


# Late write → the blocker code the request must end with.
LATE_WRITES: dict[str, tuple[LateWrite, str]] = {
    "other team": (_other_team_assistant_and_space, "team_scope_mismatch"),
    "space above the target's level": (
        _owner_space_above_the_target_level,
        "security_level_insufficient",
    ),
}


async def write_late(factory: Factory, world: ScopeWorld, write: LateWrite) -> bool:
    """Write following the protocol; ``False`` if the source was already retired."""
    async with factory.writing_to(world.source) as conn:
        if conn is None:
            return False
        await write(conn, world)
        return True


async def late_rows_on_source(factory: Factory, world: ScopeWorld) -> int:
    """Live references still on the source (only the late rows, once the owner's moved)."""
    assistants = await factory.count(
        m.Assistant.__table__, m.Assistant.llm_model_id == world.source
    )
    links = await factory.count(m.SpaceModel.__table__, m.SpaceModel.llm_model_id == world.source)
    return assistants + links
