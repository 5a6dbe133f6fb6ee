"""What `platform grants` learns of the recipients query, as PostgreSQL resolves it: a view
is granted as the view, a join the planner drops is granted all the same, and a role
holding those grants runs the query."""

from __future__ import annotations

import tomllib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import make_engine
from db.platform.host import Platform
from db.platform.mapping import REFERENCE_PLATFORM_FILE, parse_mapping
from db.platform.privileges import render_grants, required_privileges
from db.queries.recipients import team_recipients
from jobs.runtime import Runtime
from tests.factories import Factory
from tests.services import as_role, granted_role

QUERY = (
    "SELECT e.team_id, e.user_id, e.email FROM managers e "
    "LEFT JOIN team_notes n ON n.id = e.team_id WHERE e.team_id = ANY(:team_ids)"
)


async def test_a_view_and_a_join_the_planner_drops_are_granted_as_the_query_reads_them(
    runtime: Runtime, factory: Factory, database_url: str
) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE VIEW public.managers AS SELECT m.team_id, m.user_id, u.email "
                "FROM public.team_members m JOIN public.users u ON u.id = m.user_id "
                "WHERE 'manage_models' = ANY(m.permissions)"
            )
        )
        await conn.execute(text("CREATE TABLE public.team_notes (id uuid PRIMARY KEY, note text)"))
    data = tomllib.loads(REFERENCE_PLATFORM_FILE.read_text())
    data["recipients"]["query"] = QUERY
    mapping = parse_mapping(data, "edited")
    team = await factory.team()
    member = await factory.member(team)

    async with runtime.engine.connect() as conn:
        needed = await required_privileges(conn, mapping, "lifecycle")
        explained = text("EXPLAIN " + QUERY).bindparams(team_ids=[team])
        plan = "\n".join(row[0] for row in await conn.execute(explained))

    assert needed.recipients_error is None
    assert needed.relations[("public", "managers")].privileges == {
        "SELECT": {"team_id", "user_id", "email"}
    }
    # The planner leaves the unused LEFT JOIN out; PostgreSQL still checks its privilege.
    assert "team_notes" not in plan and "managers" not in plan
    assert needed.relations[("public", "team_notes")].privileges == {"SELECT": {"id"}}
    # The view's own tables are its owner's to read: the worker is not granted them.
    assert ("public", "users") not in needed.relations
    printed = render_grants(needed, "lifecycle_worker", header="test")
    assert 'GRANT SELECT ("email", "team_id", "user_id") ON TABLE "public"."managers"' in printed

    async def grants(role: str) -> str:
        return render_grants(needed, role, header="test")

    async with granted_role(database_url, grants) as role:
        engine = make_engine(as_role(database_url, role), pool_size=1)
        try:
            async with AsyncSession(engine) as session:
                found = await team_recipients(
                    session, Platform(mapping), [team], "manage_models", user_key="uuid"
                )
        finally:
            await engine.dispose()
    assert [r.user_id for r in found.of(team)] == [member]
