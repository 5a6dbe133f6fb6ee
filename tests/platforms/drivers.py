"""Platform drivers: one per host schema, the same interface, so tests speak in behaviour.

A driver inserts and reads the host's own rows with plain SQL on the test database; it is
the only test code that names a host table. A model's lifecycle state (deprecated, dates,
migrated-to, deleted-at) is not read here: the worker may keep it in its own schema, so
tests read it through the worker's model access (``db.queries.models.get_model``).
"""

from __future__ import annotations

import itertools
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from db.keys import HostId

# Kinds of live reference a platform may have (``HostDriver.kinds``).
PLAIN = "plain"  # a clearable column on a row that has its team
REQUIRED = "required"  # a column that may not be cleared (deletion needs a replacement)
VIA_PARENT = "via_parent"  # the row's team is its parent's
JSON = "json"  # the id inside a JSON document (a string where a platform stores both)
SECOND_COLUMN = "second_column"  # a second reference column in a table that has one

HOST_SCHEMA = "public"
_RUN = itertools.count(1)


class HostDriver(ABC):
    """Host rows of one platform on one test database; every call commits."""

    name: str
    kinds: tuple[str, ...]
    has_history: bool
    has_do_not_disturb: bool
    model_table: str
    # The model table's own name and token-limit columns (an admin edits them).
    model_name_column: str
    token_limit_column: str

    def __init__(self, database_url: str) -> None:
        self.engine: AsyncEngine = create_async_engine(database_url, pool_size=2)
        self._tag = f"{next(_RUN)}-{uuid.uuid4().hex[:6]}"
        self._n = 0

    def _seq(self) -> str:
        self._n += 1
        return f"{self._tag}-{self._n}"

    async def close(self) -> None:
        await self.engine.dispose()

    async def _one(self, sql: str, **params: Any) -> Any:
        async with self.engine.begin() as conn:
            result = await conn.execute(text(sql), params)
            return result.scalar() if result.returns_rows else None

    async def _counts(self, queries: Mapping[str, str], **params: Any) -> dict[str, int]:
        async with self.engine.connect() as conn:
            counts = {
                label: int(await conn.scalar(text(sql), params) or 0)
                for label, sql in queries.items()
            }
        return {label: n for label, n in counts.items() if n}

    # Tenants and people -------------------------------------------------------------
    @abstractmethod
    async def team(self) -> HostId:
        """A new team."""

    @abstractmethod
    async def member(
        self, team: HostId, *, permitted: bool = True, do_not_disturb: bool = False
    ) -> tuple[HostId, str]:
        """A new user in ``team`` (allowed to manage models or not); ``(user_id, email)``."""

    # Models and references ----------------------------------------------------------
    @abstractmethod
    async def model(
        self,
        name: str | None = None,
        provider: str = "openai",
        *,
        team: HostId | None = None,
        token_limit: int = 128_000,
    ) -> HostId:
        """A model row inserted the way the host does (``team=None``: a global model)."""

    @abstractmethod
    async def live_reference(self, team: HostId, model: HostId, kind: str = PLAIN) -> list[str]:
        """Live configuration of ``team`` using ``model``; the labels it counts under."""

    @abstractmethod
    def json_spellings(self, model: HostId) -> dict[str, str]:
        """``{name: JSON text}``: the other ways the host's JSON may write ``model``'s id."""

    @abstractmethod
    async def json_reference(self, team: HostId, model: HostId, spelled: str) -> list[str]:
        """A live reference whose JSON names ``model`` as the JSON text ``spelled`` (any
        column beside it names ``model`` too); its labels."""

    @abstractmethod
    async def json_naming(self, model: HostId) -> int:
        """Live rows whose JSON names ``model``, however the id is spelled there."""

    # A team's edit of one live row naming ``:m``: it now names ``:o``; and the label that
    # row counts under.
    edit_one_sql: ClassVar[tuple[str, str]]

    async def edit_one_reference(
        self, model: HostId, other: HostId, conn: AsyncConnection | None = None
    ) -> str:
        """A team's edit of one live row naming ``model``: it now names ``other``; the
        label it counts under. In ``conn``'s transaction when given (the caller commits)."""
        sql, label = self.edit_one_sql
        if conn is None:
            await self._one(sql, m=model, o=other)
        else:
            await conn.execute(text(sql), {"m": model, "o": other})
        return label

    @abstractmethod
    async def not_live_reference(self, team: HostId, model: HostId) -> None:
        """A row naming ``model`` that is not live configuration (soft-deleted, archived)."""

    async def history_reference(self, team: HostId, model: HostId) -> None:
        """A history row naming ``model`` (only where ``has_history``)."""
        raise NotImplementedError(f"{self.name} keeps no history rows by model id")

    @abstractmethod
    async def unmapped_restrict(self, model: HostId) -> None:
        """A row the mapping does not know that holds ``model`` through a foreign key."""

    # Reading host rows ----------------------------------------------------------------
    @abstractmethod
    async def live_counts(self, model: HostId) -> dict[str, int]:
        """``{label: live rows naming model}`` read from the host rows (zeros left out)."""

    @abstractmethod
    async def cleared_counts(self) -> dict[str, int]:
        """``{label: live rows whose reference is cleared}`` (a JSON id set to null counts)."""

    @abstractmethod
    async def not_live_count(self, model: HostId) -> int:
        """Rows naming ``model`` that are not live configuration."""

    async def history_count(self, model: HostId) -> int:
        """History rows naming ``model`` (0 where the platform has none)."""
        return 0

    async def copy_disagreements(self) -> int:
        """Rows whose JSON copy of a model id differs from their column (0 without copies)."""
        return 0

    @abstractmethod
    async def model_exists(self, model: HostId) -> bool:
        """Whether the host's model row is still there (hard delete removes it)."""

    @abstractmethod
    async def model_row(self, model: HostId) -> dict[str, Any] | None:
        """The host's own columns of the model row (provider, name, team, token limit)."""

    def edit_model_sql(self) -> str:
        """An admin's edit of model ``:m`` in the host's own terms: ``:name``, ``:token_limit``."""
        return (
            f"UPDATE {self.model_table} SET {self.model_name_column} = :name, "
            f"{self.token_limit_column} = :token_limit WHERE id = :m"
        )

    async def delete_model_row(self, model: HostId) -> None:
        """A raw ``DELETE`` of the model row in one transaction, as an operator might."""
        async with self.engine.begin() as conn:
            await conn.execute(text(f"DELETE FROM {self.model_table} WHERE id = :m"), {"m": model})

    @abstractmethod
    async def seed_fleet(self, *, teams: int = 3, per_team: int = 150) -> dict[str, Any]:
        """A source model with many live references of every kind, a target, a spare, and
        per team two members told and one not: ``source, target, spare`` (ids as text),
        ``teams``, ``recipients`` and ``live_rows``, the fields of the fault suite's Fleet."""

    async def host_checksum(self) -> dict[str, str]:
        """``{table: md5 of its rows}`` for every table of the host's schema."""
        async with self.engine.connect() as conn:
            tables = await conn.scalars(
                text("SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY 1"),
                {"s": HOST_SCHEMA},
            )
            sums = {}
            for table in list(tables):
                sums[table] = str(
                    await conn.scalar(
                        text(
                            "SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
                            f'FROM {HOST_SCHEMA}."{table}" t'
                        )
                    )
                )
        return sums


class ReferenceDriver(HostDriver):
    """The built-in reference platform (UUID keys, ``llm_models``, ``assistants``, …)."""

    name = "reference"
    kinds = (PLAIN, REQUIRED, VIA_PARENT, JSON)
    has_history = True
    has_do_not_disturb = False
    model_table = "llm_models"
    model_name_column = "name"
    token_limit_column = "token_limit"
    edit_one_sql = (
        "UPDATE apps SET llm_model_id = :o "
        "WHERE id = (SELECT id FROM apps WHERE llm_model_id = :m ORDER BY id LIMIT 1)",
        "apps",
    )

    async def team(self) -> HostId:
        slug = f"team-{self._seq()}"
        return await self._one(  # type: ignore[no-any-return]
            "INSERT INTO teams (slug, name) VALUES (:s, :s) RETURNING id", s=slug
        )

    async def member(
        self, team: HostId, *, permitted: bool = True, do_not_disturb: bool = False
    ) -> tuple[HostId, str]:
        if do_not_disturb:
            raise NotImplementedError("the reference platform has no do-not-disturb")
        email = f"user-{self._seq()}@reference.test"
        async with self.engine.begin() as conn:
            user = await conn.scalar(
                text("INSERT INTO users (email, name) VALUES (:e, :e) RETURNING id"), {"e": email}
            )
            await conn.execute(
                text(
                    "INSERT INTO team_members (team_id, user_id, permissions) VALUES (:t, :u, :p)"
                ),
                {"t": team, "u": user, "p": ["manage_models"] if permitted else ["read"]},
            )
        return user, email

    async def model(
        self,
        name: str | None = None,
        provider: str = "openai",
        *,
        team: HostId | None = None,
        token_limit: int = 128_000,
    ) -> HostId:
        name = name or f"model-{self._seq()}"
        return await self._one(  # type: ignore[no-any-return]
            "INSERT INTO llm_models (provider, name, display_name, team_id, token_limit) "
            "VALUES (:p, :n, :n, :t, :l) RETURNING id",
            p=provider,
            n=name,
            t=team,
            l=token_limit,
        )

    async def live_reference(self, team: HostId, model: HostId, kind: str = PLAIN) -> list[str]:
        values = {"t": team, "m": model, "n": f"ref-{self._seq()}"}
        async with self.engine.begin() as conn:
            if kind == PLAIN:
                await _run(
                    conn,
                    "INSERT INTO apps (team_id, name, llm_model_id) VALUES (:t, :n, :m)",
                    values,
                )
                return ["apps"]
            if kind == REQUIRED:
                await _run(
                    conn,
                    "INSERT INTO assistants (team_id, name, llm_model_id, model_parameters) "
                    "VALUES (:t, :n, :m, '{\"temperature\": 0.3}')",
                    values,
                )
                return ["assistants"]
            if kind == VIA_PARENT:
                space = await conn.scalar(
                    text("INSERT INTO spaces (team_id, name) VALUES (:t, :n) RETURNING id"), values
                )
                await _run(
                    conn,
                    "INSERT INTO space_models (space_id, llm_model_id) VALUES (:s, :m)",
                    {"s": space, "m": model},
                )
                return ["spaces"]
            if kind == JSON:
                await _run(
                    conn,
                    "INSERT INTO pipelines (team_id, name, definition) VALUES (:t, :n, "
                    "jsonb_build_object('nodes', jsonb_build_array("
                    "jsonb_build_object('id', 'n0', 'type', 'llm', 'params', "
                    "jsonb_build_object('llm_model_id', CAST(:m AS text), 'temperature', 0.2)), "
                    "jsonb_build_object('id', 'start', 'type', 'start', 'params', '{}'::jsonb))))",
                    {**values, "m": str(model)},
                )
                return ["pipelines"]
        raise ValueError(f"{self.name} has no live reference of kind {kind!r}")

    def json_spellings(self, model: HostId) -> dict[str, str]:
        return {"upper case": f'"{str(model).upper()}"'}

    async def json_reference(self, team: HostId, model: HostId, spelled: str) -> list[str]:
        await self._one(
            "INSERT INTO pipelines (team_id, name, definition) VALUES (:t, :n, "
            "jsonb_build_object('nodes', jsonb_build_array(jsonb_build_object('id', 'n0', "
            "'type', 'llm', 'params', jsonb_build_object('llm_model_id', CAST(:j AS jsonb))))))",
            t=team,
            n=f"ref-{self._seq()}",
            j=spelled,
        )
        return ["pipelines"]

    async def json_naming(self, model: HostId) -> int:
        return int(
            await self._one(
                "SELECT count(*) FROM pipelines p WHERE EXISTS (SELECT 1 FROM "
                "jsonb_array_elements(p.definition->'nodes') n "
                "WHERE lower(n->'params'->>'llm_model_id') = :s)",
                s=str(model),
            )
        )

    async def not_live_reference(self, team: HostId, model: HostId) -> None:
        await self._one(
            "INSERT INTO templates (team_id, name, llm_model_id, deleted_at) "
            "VALUES (:t, :n, :m, now())",
            t=team,
            n=f"old-{self._seq()}",
            m=model,
        )

    async def history_reference(self, team: HostId, model: HostId) -> None:
        await self._one(
            "INSERT INTO questions (team_id, llm_model_id, prompt_tokens, completion_tokens) "
            "VALUES (:t, :m, 10, 5)",
            t=team,
            m=model,
        )

    async def unmapped_restrict(self, model: HostId) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                text(
                    "CREATE TABLE IF NOT EXISTS unmapped_holders (id bigint GENERATED BY DEFAULT "
                    "AS IDENTITY PRIMARY KEY, llm_model_id uuid NOT NULL "
                    "REFERENCES llm_models (id) ON DELETE RESTRICT)"
                )
            )
            await _run(
                conn, "INSERT INTO unmapped_holders (llm_model_id) VALUES (:m)", {"m": model}
            )

    _LIVE: ClassVar[dict[str, str]] = {
        "assistants": "SELECT count(*) FROM assistants WHERE llm_model_id = :m",
        "apps": "SELECT count(*) FROM apps WHERE llm_model_id = :m",
        "services": "SELECT count(*) FROM services WHERE llm_model_id = :m",
        "templates": "SELECT count(*) FROM templates "
        "WHERE llm_model_id = :m AND deleted_at IS NULL",
        "spaces": "SELECT count(*) FROM space_models WHERE llm_model_id = :m",
        "pipelines": "SELECT count(*) FROM pipelines p WHERE EXISTS (SELECT 1 FROM "
        "jsonb_array_elements(p.definition->'nodes') n WHERE n->'params'->>'llm_model_id' = :s)",
    }

    async def live_counts(self, model: HostId) -> dict[str, int]:
        return await self._counts(self._LIVE, m=model, s=str(model))

    async def cleared_counts(self) -> dict[str, int]:
        return await self._counts(
            {
                "apps": "SELECT count(*) FROM apps WHERE llm_model_id IS NULL",
                "services": "SELECT count(*) FROM services WHERE llm_model_id IS NULL",
                "templates": "SELECT count(*) FROM templates "
                "WHERE llm_model_id IS NULL AND deleted_at IS NULL",
                # A space whose link is cleared enables no model any more.
                "spaces": "SELECT count(*) FROM spaces s WHERE NOT EXISTS "
                "(SELECT 1 FROM space_models l WHERE l.space_id = s.id)",
                "pipelines": "SELECT count(*) FROM pipelines p, "
                "jsonb_array_elements(p.definition->'nodes') n "
                "WHERE n->'params' ? 'llm_model_id' AND n->'params'->'llm_model_id' = 'null'",
            }
        )

    async def not_live_count(self, model: HostId) -> int:
        return int(
            await self._one(
                "SELECT count(*) FROM templates WHERE llm_model_id = :m AND deleted_at IS NOT NULL",
                m=model,
            )
        )

    async def history_count(self, model: HostId) -> int:
        return int(
            await self._one(
                "SELECT (SELECT count(*) FROM questions WHERE llm_model_id = :m) "
                "+ (SELECT count(*) FROM app_runs WHERE llm_model_id = :m)",
                m=model,
            )
        )

    async def model_exists(self, model: HostId) -> bool:
        return bool(await self._one("SELECT count(*) FROM llm_models WHERE id = :m", m=model))

    async def model_row(self, model: HostId) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT provider, name, team_id AS team, token_limit "
                        "FROM llm_models WHERE id = :m"
                    ),
                    {"m": model},
                )
            ).one_or_none()
        return None if row is None else dict(row._mapping)

    async def seed_fleet(self, *, teams: int = 3, per_team: int = 150) -> dict[str, Any]:
        from dataclasses import asdict

        from tests.e2e.faults.harness import seed_fleet

        return asdict(await seed_fleet(self.engine, teams=teams, per_team=per_team))


class OpenChatStudioDriver(HostDriver):
    """Open Chat Studio's shape (Django): bigint keys, deferred FKs, groups, archived rows."""

    name = "open-chat-studio"
    kinds = (PLAIN, VIA_PARENT, JSON, SECOND_COLUMN)
    has_history = False
    has_do_not_disturb = True
    model_table = "service_providers_llmprovidermodel"
    model_name_column = "name"
    token_limit_column = "max_token_limit"
    edit_one_sql = (
        "UPDATE assistants_openaiassistant SET llm_provider_model_id = :o "
        "WHERE id = (SELECT id FROM assistants_openaiassistant "
        "WHERE llm_provider_model_id = :m AND NOT is_archived ORDER BY id LIMIT 1)",
        "assistants",
    )

    # From the seed: the group whose permissions include changing LLM provider models,
    # and one that does not.
    ADMIN_GROUP = "Team Admin"
    VIEWER_GROUP = "Chat Viewer"

    async def team(self) -> HostId:
        slug = f"team-{self._seq()}"
        return await self._one(  # type: ignore[no-any-return]
            "INSERT INTO teams_team (name, slug, created_at, updated_at) "
            "VALUES (:s, :s, now(), now()) RETURNING id",
            s=slug,
        )

    async def member(
        self, team: HostId, *, permitted: bool = True, do_not_disturb: bool = False
    ) -> tuple[HostId, str]:
        n = self._seq()
        email = f"user-{n}@ocs.test"
        async with self.engine.begin() as conn:
            user = await conn.scalar(
                text(
                    "INSERT INTO users_customuser (password, username, email, first_name, "
                    "is_active, date_joined) VALUES ('!', :u, :e, :u, true, now()) RETURNING id"
                ),
                {"u": f"user-{n}", "e": email},
            )
            membership = await conn.scalar(
                text(
                    "INSERT INTO teams_membership (team_id, user_id, created_at, updated_at) "
                    "VALUES (:t, :u, now(), now()) RETURNING id"
                ),
                {"t": team, "u": user},
            )
            await _run(
                conn,
                "INSERT INTO teams_membership_groups (membership_id, group_id) "
                "SELECT :m, id FROM auth_group WHERE name = :g",
                {"m": membership, "g": self.ADMIN_GROUP if permitted else self.VIEWER_GROUP},
            )
            await _run(
                conn,
                "INSERT INTO ocs_notifications_usernotificationpreferences "
                "(user_id, team_id, do_not_disturb_until) VALUES (:u, :t, "
                "CASE WHEN :dnd THEN now() + interval '7 days' END)",
                {"u": user, "t": team, "dnd": do_not_disturb},
            )
        return user, email

    async def model(
        self,
        name: str | None = None,
        provider: str = "openai",
        *,
        team: HostId | None = None,
        token_limit: int = 128_000,
    ) -> HostId:
        name = name or f"model-{self._seq()}"
        return await self._one(  # type: ignore[no-any-return]
            "INSERT INTO service_providers_llmprovidermodel "
            "(created_at, updated_at, team_id, type, name, max_token_limit, deprecated) "
            "VALUES (now(), now(), :t, :p, :n, :l, false) RETURNING id",
            t=team,
            p=provider,
            n=name,
            l=token_limit,
        )

    async def _node(
        self, conn: AsyncConnection, team: HostId, model: HostId, copy: Any, *, archived: bool
    ) -> None:
        pipeline = await conn.scalar(
            text(
                "INSERT INTO pipelines_pipeline (team_id, name, data, is_archived, created_at, "
                "updated_at) VALUES (:t, :n, '{}', false, now(), now()) RETURNING id"
            ),
            {"t": team, "n": f"pipe-{self._seq()}"},
        )
        await _run(
            conn,
            "INSERT INTO pipelines_node (pipeline_id, flow_id, type, label, params, is_archived, "
            "llm_provider_model_id) VALUES (:p, 'n1', 'LLMResponseWithPrompt', 'Answer', "
            "jsonb_build_object('llm_provider_model_id', CAST(:c AS jsonb), 'prompt', 'hi'), "
            ":a, :m)",
            {"p": pipeline, "c": copy, "a": archived, "m": model},
        )

    async def live_reference(self, team: HostId, model: HostId, kind: str = PLAIN) -> list[str]:
        values = {"t": team, "m": model, "n": f"ref-{self._seq()}"}
        async with self.engine.begin() as conn:
            if kind == PLAIN:
                await _run(
                    conn,
                    "INSERT INTO assistants_openaiassistant (team_id, name, assistant_id, "
                    "instructions, is_archived, llm_provider_model_id, created_at, updated_at) "
                    "VALUES (:t, :n, :n, '', false, :m, now(), now())",
                    values,
                )
                return ["assistants"]
            if kind == VIA_PARENT:  # the JSON copy as a number, as OCS writes it today
                await self._node(conn, team, model, str(model), archived=False)
                return ["pipeline_nodes"]
            if kind == JSON:  # the JSON copy as a string, as older rows hold it
                await self._node(conn, team, model, f'"{model}"', archived=False)
                return ["pipeline_nodes"]
            if kind == SECOND_COLUMN:
                await _run(
                    conn,
                    "INSERT INTO analysis_transcriptanalysis (team_id, name, "
                    "llm_provider_model_id, translation_llm_provider_model_id, created_at, "
                    "updated_at) VALUES (:t, :n, :m, :m, now(), now())",
                    values,
                )
                return ["transcript_analyses", "transcript_translations"]
        raise ValueError(f"{self.name} has no live reference of kind {kind!r}")

    def json_spellings(self, model: HostId) -> dict[str, str]:
        return {
            "decimal": f"{model}.0",
            "exponent": f"{model}e0",
            "scaled exponent": f"{model}0e-1",
            "string": f'"{model}"',
        }

    async def json_reference(self, team: HostId, model: HostId, spelled: str) -> list[str]:
        async with self.engine.begin() as conn:
            await self._node(conn, team, model, spelled, archived=False)
        return ["pipeline_nodes"]

    async def json_naming(self, model: HostId) -> int:
        return int(
            await self._one(
                "SELECT count(*) FROM pipelines_node n "
                f"WHERE NOT n.is_archived AND ({self._NODE_COPY}) = :m",
                m=model,
            )
        )

    async def not_live_reference(self, team: HostId, model: HostId) -> None:
        async with self.engine.begin() as conn:
            await _run(
                conn,
                "INSERT INTO assistants_openaiassistant (team_id, name, assistant_id, "
                "instructions, is_archived, llm_provider_model_id, created_at, updated_at) "
                "VALUES (:t, :n, :n, '', true, :m, now(), now())",
                {"t": team, "m": model, "n": f"old-{self._seq()}"},
            )
            await self._node(conn, team, model, str(model), archived=True)

    async def unmapped_restrict(self, model: HostId) -> None:
        # An experiment (left out of the mapping) holds the model through a Django foreign
        # key: deferred, no ON DELETE action, so a DELETE fails only at COMMIT.
        team = await self._one(
            "SELECT team_id FROM service_providers_llmprovidermodel WHERE id = :m", m=model
        )
        await self._one(
            "INSERT INTO experiments_experiment (team_id, name, llm_provider_model_id) "
            "VALUES (coalesce(CAST(:t AS bigint), (SELECT min(id) FROM teams_team)), :n, :m)",
            t=team,
            n=f"exp-{self._seq()}",
            m=model,
        )

    async def seed_fleet(self, *, teams: int = 3, per_team: int = 150) -> dict[str, Any]:
        models = {}
        async with self.engine.begin() as conn:
            for name, limit in (("fault-src", 32000), ("fault-dst", 64000), ("fault-spare", 64000)):
                models[name] = await conn.scalar(
                    text(
                        "INSERT INTO service_providers_llmprovidermodel (created_at, updated_at, "
                        "team_id, type, name, max_token_limit, deprecated) "
                        "VALUES (now(), now(), NULL, 'openai', :n, :t, false) RETURNING id"
                    ),
                    {"n": name, "t": limit},
                )
            for t in range(teams):
                team = await conn.scalar(
                    text(
                        "INSERT INTO teams_team (name, slug, created_at, updated_at) "
                        "VALUES (:s, :s, now(), now()) RETURNING id"
                    ),
                    {"s": f"fault-team-{t}"},
                )
                params = {"team": team, "m": models["fault-src"], "n": per_team, "tag": f"t{t}"}
                await _run(conn, _OCS_FLEET_TEAM, params)
                for sql in _OCS_FLEET_ROWS:
                    await _run(conn, sql, params)
        # Per team: assistants less the archived tenth, analyses, half as many
        # translations, evaluators, collections and pipeline nodes.
        live = teams * (per_team * 5 - per_team // 10 + per_team // 2)
        return {
            "source": str(models["fault-src"]),
            "target": str(models["fault-dst"]),
            "spare": str(models["fault-spare"]),
            "teams": teams,
            "recipients": 2 * teams,
            "live_rows": live,
        }

    _NODE_COPY = (
        "CASE jsonb_typeof(n.params->'llm_provider_model_id') "
        "WHEN 'number' THEN (n.params->'llm_provider_model_id')::numeric "
        "WHEN 'string' THEN (n.params->>'llm_provider_model_id')::numeric END"
    )
    _LIVE: ClassVar[dict[str, str]] = {
        "pipeline_nodes": "SELECT count(*) FROM pipelines_node n "
        "WHERE NOT n.is_archived AND n.llm_provider_model_id = :m",
        "assistants": "SELECT count(*) FROM assistants_openaiassistant "
        "WHERE NOT is_archived AND llm_provider_model_id = :m",
        "transcript_analyses": "SELECT count(*) FROM analysis_transcriptanalysis "
        "WHERE llm_provider_model_id = :m",
        "transcript_translations": "SELECT count(*) FROM analysis_transcriptanalysis "
        "WHERE translation_llm_provider_model_id = :m",
        "evaluators": "SELECT count(*) FROM evaluations_evaluator WHERE llm_provider_model_id = :m",
        "collections": "SELECT count(*) FROM documents_collection "
        "WHERE contextualizer_llm_model_id = :m",
    }

    async def live_counts(self, model: HostId) -> dict[str, int]:
        return await self._counts(self._LIVE, m=model)

    async def cleared_counts(self) -> dict[str, int]:
        return await self._counts(
            {
                "pipeline_nodes": "SELECT count(*) FROM pipelines_node n "
                "WHERE NOT n.is_archived AND n.llm_provider_model_id IS NULL "
                "AND n.params->'llm_provider_model_id' = 'null'",
                "assistants": "SELECT count(*) FROM assistants_openaiassistant "
                "WHERE NOT is_archived AND llm_provider_model_id IS NULL",
                "transcript_analyses": "SELECT count(*) FROM analysis_transcriptanalysis "
                "WHERE llm_provider_model_id IS NULL",
                "transcript_translations": "SELECT count(*) FROM analysis_transcriptanalysis "
                "WHERE translation_llm_provider_model_id IS NULL",
            }
        )

    async def not_live_count(self, model: HostId) -> int:
        return int(
            await self._one(
                "SELECT (SELECT count(*) FROM assistants_openaiassistant "
                "WHERE is_archived AND llm_provider_model_id = :m) + (SELECT count(*) "
                "FROM pipelines_node WHERE is_archived AND llm_provider_model_id = :m)",
                m=model,
            )
        )

    async def copy_disagreements(self) -> int:
        """Nodes whose column and ``params`` copy name different models (or one is null)."""
        return int(
            await self._one(
                "SELECT count(*) FROM pipelines_node n WHERE n.params ? 'llm_provider_model_id' "
                f"AND n.llm_provider_model_id IS DISTINCT FROM ({self._NODE_COPY})"
            )
        )

    async def model_exists(self, model: HostId) -> bool:
        return bool(
            await self._one(
                "SELECT count(*) FROM service_providers_llmprovidermodel WHERE id = :m", m=model
            )
        )

    async def model_row(self, model: HostId) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT type AS provider, name, team_id AS team, "
                        "max_token_limit AS token_limit "
                        "FROM service_providers_llmprovidermodel WHERE id = :m"
                    ),
                    {"m": model},
                )
            ).one_or_none()
        return None if row is None else dict(row._mapping)


_OCS_FLEET_TEAM = """
WITH u AS (
    INSERT INTO users_customuser (password, username, email, first_name, is_active, date_joined)
    SELECT '!', :tag || '-u' || g, 'u' || g || '@' || :tag || '.fault.test', 'U', true, now()
    FROM generate_series(0, 2) g RETURNING id, username
), m AS (
    INSERT INTO teams_membership (team_id, user_id, created_at, updated_at)
    SELECT :team, id, now(), now() FROM u RETURNING id, user_id
)
INSERT INTO teams_membership_groups (membership_id, group_id)
SELECT m.id, (SELECT id FROM auth_group WHERE name =
    CASE WHEN u.username LIKE '%-u2' THEN 'Chat Viewer' ELSE 'Team Admin' END)
FROM m JOIN u ON u.id = m.user_id
"""
_OCS_FLEET_ROWS = (
    "INSERT INTO assistants_openaiassistant (team_id, name, assistant_id, instructions, "
    "is_archived, llm_provider_model_id, created_at, updated_at) SELECT :team, "
    ":tag || '-asst-' || g, 'asst_' || g, '', g % 10 = 0, CAST(:m AS bigint), now(), now() "
    "FROM generate_series(1, :n) g",
    "INSERT INTO analysis_transcriptanalysis (team_id, name, llm_provider_model_id, "
    "translation_llm_provider_model_id, created_at, updated_at) SELECT :team, "
    ":tag || '-ta-' || g, CAST(:m AS bigint), "
    "CASE WHEN g % 2 = 0 THEN CAST(:m AS bigint) END, now(), now() "
    "FROM generate_series(1, :n) g",
    "INSERT INTO evaluations_evaluator (team_id, name, type, params, llm_provider_model_id) "
    "SELECT :team, :tag || '-ev-' || g, 'LlmEvaluator', '{}', CAST(:m AS bigint) "
    "FROM generate_series(1, :n) g",
    "INSERT INTO documents_collection (team_id, name, contextualizer_llm_model_id, created_at, "
    "updated_at) SELECT :team, :tag || '-col-' || g, CAST(:m AS bigint), now(), now() "
    "FROM generate_series(1, :n) g",
    # One pipeline per team; its nodes keep the id as a JSON number or (every third) a string.
    "WITH p AS (INSERT INTO pipelines_pipeline (team_id, name, data, is_archived, created_at, "
    "updated_at) VALUES (:team, :tag || '-pipe', '{}', false, now(), now()) RETURNING id) "
    "INSERT INTO pipelines_node (pipeline_id, flow_id, type, label, params, is_archived, "
    "llm_provider_model_id) SELECT p.id, 'n' || g, 'LLMResponseWithPrompt', 'Answer', "
    "jsonb_build_object('llm_provider_model_id', CASE WHEN g % 3 = 0 "
    "THEN to_jsonb(CAST(CAST(:m AS bigint) AS text)) ELSE to_jsonb(CAST(:m AS bigint)) END, "
    "'prompt', 'hi'), "
    "false, CAST(:m AS bigint) FROM p, generate_series(1, :n) g",
)


async def _run(conn: AsyncConnection, sql: str, params: Mapping[str, Any]) -> None:
    await conn.execute(text(sql), dict(params))


DRIVERS: dict[str, type[HostDriver]] = {
    ReferenceDriver.name: ReferenceDriver,
    OpenChatStudioDriver.name: OpenChatStudioDriver,
}
