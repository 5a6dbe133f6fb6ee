"""Usage counts and EXISTS probes over the reference registry."""

import uuid

from sqlalchemy import text

from db.platform.host import reference_host
from db.queries.references import impact_by_team, impact_totals, referencing_labels, usage_by_team
from jobs.runtime import Runtime
from tests.factories import Factory

HOST = reference_host()


async def test_usage_by_team_counts_every_live_shape(factory: Factory, runtime: Runtime) -> None:
    t1, t2 = await factory.team(), await factory.team()
    model, other = await factory.model(), await factory.model()
    await factory.assistant(t1, model)
    await factory.assistant(t1, model)
    await factory.assistant(t2, other)
    await factory.app(t2, model)
    await factory.service(t1, None)
    await factory.template(None, model)  # a global template: counted, but teamless
    deleted_template = await factory.template(t1, model)
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE templates SET deleted_at = now() WHERE id = :id"), {"id": deleted_template}
        )
    await factory.space(t2, [model, other])
    await factory.pipeline(t1, [model, other, None])
    await factory.pipeline(t1, [other])

    async with runtime.sessions() as session:
        impact = await usage_by_team(session, model, HOST.live())
        with_deleted = await usage_by_team(session, model, HOST.live(), include_not_live=True)

    assert impact_totals(impact) == {
        "assistants": 2,
        "apps": 1,
        "templates": 1,
        "spaces": 1,
        "pipelines": 1,
    }
    assert impact_by_team(impact) == {
        str(t1): {"assistants": 2, "pipelines": 1},
        str(t2): {"apps": 1, "spaces": 1},
    }
    assert with_deleted["templates"].total == 2


async def test_exists_probes_find_history_and_live_labels(
    factory: Factory, runtime: Runtime
) -> None:
    team = await factory.team()
    model = await factory.model()
    await factory.question(team, model)
    await factory.pipeline(team, [model])
    async with runtime.sessions() as session:
        assert await referencing_labels(session, model, HOST.references) == [
            "pipelines",
            "questions",
        ]
        assert await referencing_labels(session, model, HOST.history()) == ["questions"]
        assert await referencing_labels(session, uuid.uuid4(), HOST.references) == []
