"""Factories that insert platform rows for tests (plain SQLAlchemy Core inserts)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db import models as m


class Factory:
    """Inserts rows into one test database; each call commits."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._n = 0

    def _seq(self) -> int:
        self._n += 1
        return self._n

    async def _insert(self, table: Any, **values: Any) -> uuid.UUID:
        async with self.engine.begin() as conn:
            row_id = await conn.scalar(
                insert(table).values(**values).returning(table.c[_pk(table)])
            )
        assert row_id is not None
        return row_id  # type: ignore[no-any-return]

    async def team(self, slug: str | None = None) -> uuid.UUID:
        n = self._seq()
        slug = slug or f"team-{n}"
        return await self._insert(m.Team.__table__, slug=slug, name=slug.title())

    async def user(self, email: str | None = None) -> uuid.UUID:
        n = self._seq()
        return await self._insert(
            m.User.__table__, email=email or f"user{n}@example.test", name=f"User {n}"
        )

    async def member(
        self,
        team_id: uuid.UUID,
        user_id: uuid.UUID | None = None,
        permissions: list[str] | None = None,
    ) -> uuid.UUID:
        user_id = user_id or await self.user()
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(m.TeamMember.__table__).values(
                    team_id=team_id,
                    user_id=user_id,
                    permissions=["manage_models"] if permissions is None else permissions,
                )
            )
        return user_id

    async def model(
        self,
        name: str | None = None,
        provider: str = "openai",
        *,
        team_id: uuid.UUID | None = None,
        token_limit: int = 128_000,
        **values: Any,
    ) -> uuid.UUID:
        n = self._seq()
        name = name or f"model-{n}"
        values.setdefault("display_name", name)
        return await self._insert(
            m.LlmModel.__table__,
            provider=provider,
            name=name,
            team_id=team_id,
            token_limit=token_limit,
            **values,
        )

    async def assistant(self, team_id: uuid.UUID, model_id: uuid.UUID, **values: Any) -> uuid.UUID:
        values.setdefault("name", f"assistant-{self._seq()}")
        return await self._insert(
            m.Assistant.__table__, team_id=team_id, llm_model_id=model_id, **values
        )

    async def app(self, team_id: uuid.UUID, model_id: uuid.UUID | None, **values: Any) -> uuid.UUID:
        values.setdefault("name", f"app-{self._seq()}")
        return await self._insert(m.App.__table__, team_id=team_id, llm_model_id=model_id, **values)

    async def service(
        self, team_id: uuid.UUID, model_id: uuid.UUID | None, **values: Any
    ) -> uuid.UUID:
        values.setdefault("name", f"service-{self._seq()}")
        return await self._insert(
            m.Service.__table__, team_id=team_id, llm_model_id=model_id, **values
        )

    async def template(
        self, team_id: uuid.UUID | None, model_id: uuid.UUID | None, **values: Any
    ) -> uuid.UUID:
        values.setdefault("name", f"template-{self._seq()}")
        return await self._insert(
            m.Template.__table__, team_id=team_id, llm_model_id=model_id, **values
        )

    async def space(
        self,
        team_id: uuid.UUID,
        model_ids: list[uuid.UUID] = (),
        **values: Any,  # type: ignore[assignment]
    ) -> uuid.UUID:
        values.setdefault("name", f"space-{self._seq()}")
        space_id = await self._insert(m.Space.__table__, team_id=team_id, **values)
        if model_ids:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(m.SpaceModel.__table__),
                    [{"space_id": space_id, "llm_model_id": mid} for mid in model_ids],
                )
        return space_id

    async def pipeline(
        self, team_id: uuid.UUID, node_models: list[uuid.UUID | str | None], **values: Any
    ) -> uuid.UUID:
        """A pipeline with one LLM node per entry (None → a node with a null model)."""
        nodes: list[dict[str, Any]] = [
            {
                "id": f"n{i}",
                "type": "llm",
                "params": {"llm_model_id": None if mid is None else str(mid), "temperature": 0.2},
            }
            for i, mid in enumerate(node_models)
        ]
        nodes.append({"id": "start", "type": "start", "params": {}})
        values.setdefault("name", f"pipeline-{self._seq()}")
        return await self._insert(
            m.Pipeline.__table__, team_id=team_id, definition={"nodes": nodes}, **values
        )

    async def question(self, team_id: uuid.UUID, model_id: uuid.UUID, **values: Any) -> uuid.UUID:
        return await self._insert(
            m.Question.__table__, team_id=team_id, llm_model_id=model_id, **values
        )

    async def app_run(self, team_id: uuid.UUID, model_id: uuid.UUID, **values: Any) -> uuid.UUID:
        return await self._insert(
            m.AppRun.__table__, team_id=team_id, llm_model_id=model_id, **values
        )

    async def lifecycle_run(
        self,
        job: str,
        *,
        status: str = "succeeded",
        trigger: str = "manual",
        dry_run: bool = False,
        finished_ago: timedelta | None = timedelta(0),
        **values: Any,
    ) -> uuid.UUID:
        """A run-log row that finished ``finished_ago`` before the database's now()."""
        finished = None if finished_ago is None else func.now() - finished_ago
        return await self._insert(
            m.LifecycleRun.__table__,
            job=job,
            status=status,
            trigger=trigger,
            dry_run=dry_run,
            finished_at=finished,
            **values,
        )

    async def model_migration_row(
        self, from_model_id: uuid.UUID | None, to_model_id: uuid.UUID | None, **values: Any
    ) -> uuid.UUID:
        """A finished migration request with its name snapshots filled from the models."""
        async with self.engine.connect() as conn:
            names = {
                row.id: row
                for row in await conn.execute(
                    select(m.LlmModel.id, m.LlmModel.provider, m.LlmModel.name).where(
                        m.LlmModel.id.in_([i for i in (from_model_id, to_model_id) if i])
                    )
                )
            }
        source, target = names.get(from_model_id), names.get(to_model_id)
        values.setdefault("kind", "migration")
        values.setdefault("status", "succeeded")
        values.setdefault("request_key", f"req-{uuid.uuid4()}")
        return await self._insert(
            m.ModelMigration.__table__,
            from_model_id=from_model_id,
            to_model_id=to_model_id,
            from_provider=source.provider if source else None,
            from_model_name=source.name if source else None,
            to_provider=target.provider if target else None,
            to_model_name=target.name if target else None,
            **values,
        )

    @asynccontextmanager
    async def writing_to(self, model_id: uuid.UUID) -> AsyncIterator[AsyncConnection | None]:
        """The main application's write protocol: a transaction holding ``model_id``
        ``FOR SHARE`` while it is live (``None`` when it is migrated or deleted)."""
        async with self.engine.begin() as conn:
            live = await conn.scalar(
                select(m.LlmModel.id)
                .where(
                    m.LlmModel.id == model_id,
                    m.LlmModel.migrated_to_model_id.is_(None),
                    m.LlmModel.deleted_at.is_(None),
                )
                .with_for_update(read=True)
            )
            yield conn if live is not None else None

    async def request(self, request_key: str) -> Any:
        """The ``model_migrations`` row recorded under ``request_key`` (``None`` if none)."""
        async with self.engine.connect() as conn:
            return (
                await conn.execute(
                    select(m.ModelMigration).where(m.ModelMigration.request_key == request_key)
                )
            ).one_or_none()

    async def requests(self) -> int:
        return await self.count(m.ModelMigration.__table__)

    async def get_model(self, model_id: uuid.UUID) -> Any:
        """The ``llm_models`` row (``None`` once hard-deleted)."""
        async with self.engine.connect() as conn:
            return (
                await conn.execute(select(m.LlmModel).where(m.LlmModel.id == model_id))
            ).one_or_none()

    async def count(self, table: Any, *where: Any) -> int:
        async with self.engine.connect() as conn:
            n = await conn.scalar(select(func.count()).select_from(table).where(*where))
        return int(n or 0)


def _pk(table: Any) -> str:
    return "id" if "id" in table.c else next(iter(table.primary_key.columns)).name
