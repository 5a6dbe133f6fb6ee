import pytest
from sqlalchemy import text

from db.registry import RegistryError, verify_registry
from jobs.runtime import Runtime


async def test_registry_matches_migrated_schema(runtime: Runtime) -> None:
    async with runtime.engine.connect() as conn:
        await verify_registry(conn)


@pytest.mark.parametrize(
    ("ddl", "message"),
    [
        (
            "ALTER TABLE apps DROP COLUMN llm_model_id",
            "apps: column apps.llm_model_id does not exist",
        ),
        ("DROP TABLE app_runs", "app_runs: table 'app_runs' does not exist"),
        ("ALTER TABLE spaces DROP COLUMN team_id", "spaces: column spaces.team_id does not exist"),
    ],
)
async def test_registry_mismatch_names_the_missing_piece(
    runtime: Runtime, ddl: str, message: str
) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(text(ddl))
    async with runtime.engine.connect() as conn:
        with pytest.raises(RegistryError, match=message):
            await verify_registry(conn)
