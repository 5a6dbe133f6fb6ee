"""A small demo platform: teams, members, global and team models, live configuration and
history, shaped so every lifecycle step has something to show."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import models as m
from db.keys import HostId

DEMO_TEAMS = ("acme", "globex", "initech")

# provider, name, token_limit, vision, tools, reasoning
_GLOBAL_MODELS = (
    ("openai", "gpt-4o", 128_000, True, True, False),
    ("openai", "gpt-4o-mini", 128_000, True, True, False),
    ("openai", "gpt-4", 8_192, False, True, False),
    ("openai", "gpt-3.5-turbo", 16_385, False, True, False),
    ("openai", "text-davinci-003", 4_097, False, False, False),
    ("anthropic", "claude-2.0", 100_000, False, False, False),
    ("anthropic", "claude-3-5-sonnet-latest", 200_000, True, True, False),
)

_MEMBERS: tuple[tuple[str, str, list[str]], ...] = (
    ("acme", "alice@acme.example", ["manage_models"]),
    ("acme", "bob@acme.example", []),
    ("globex", "carol@globex.example", ["manage_models", "billing"]),
    ("initech", "dave@initech.example", ["manage_models"]),
    ("initech", "erin@initech.example", ["manage_models"]),
)


@dataclass
class DemoIds:
    teams: dict[str, HostId] = field(default_factory=dict)
    models: dict[str, HostId] = field(default_factory=dict)


async def _insert(session: AsyncSession, model: Any, **values: Any) -> uuid.UUID:
    row_id: uuid.UUID | None = await session.scalar(
        insert(model).values(**values).returning(model.id)
    )
    assert row_id is not None
    return row_id


async def is_seeded(session: AsyncSession) -> bool:
    """Whether the demo teams already exist."""
    found = await session.scalar(select(m.Team.id).where(m.Team.slug == DEMO_TEAMS[0]))
    return found is not None


async def seed_demo(session: AsyncSession) -> DemoIds:
    """Insert the demo platform in the caller's transaction."""
    ids = DemoIds()
    for slug in DEMO_TEAMS:
        ids.teams[slug] = await _insert(session, m.Team, slug=slug, name=slug.title())
    for team, email, permissions in _MEMBERS:
        user = await _insert(session, m.User, email=email, name=email.split("@")[0])
        await session.execute(
            insert(m.TeamMember).values(
                team_id=ids.teams[team], user_id=user, permissions=permissions
            )
        )
    for provider, name, limit, vision, tools, reasoning in _GLOBAL_MODELS:
        ids.models[f"{provider}:{name}"] = await _insert(
            session,
            m.LlmModel,
            provider=provider,
            name=name,
            display_name=name,
            token_limit=limit,
            supports_vision=vision,
            supports_tools=tools,
            supports_reasoning=reasoning,
        )
    ids.models["acme:support-ft"] = await _insert(
        session,
        m.LlmModel,
        provider="openai",
        name="ft:gpt-4o-mini:acme-support",
        display_name="Acme support fine-tune",
        team_id=ids.teams["acme"],
        token_limit=128_000,
        supports_tools=True,
        security_level=3,
    )
    await _configuration(session, ids)
    return ids


async def _configuration(session: AsyncSession, ids: DemoIds) -> None:
    t, md = ids.teams, ids.models
    assistants: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
        ("acme", "Support bot", "openai:gpt-4", {"temperature": 0.2}),
        ("acme", "Sales helper", "openai:gpt-3.5-turbo", {"temperature": 0.7}),
        ("globex", "Research assistant", "anthropic:claude-2.0", {"max_tokens": 2048}),
        ("globex", "Writer", "openai:gpt-4", {}),
        ("initech", "Ops assistant", "openai:gpt-3.5-turbo", {"top_p": 0.9}),
    )
    assistant_ids = {}
    for team, name, model, params in assistants:
        assistant_ids[name] = await _insert(
            session,
            m.Assistant,
            team_id=t[team],
            name=name,
            llm_model_id=md[model],
            model_parameters=params,
        )
    apps: tuple[tuple[str, str, str | None], ...] = (
        ("acme", "Ticket triage", "openai:gpt-4"),
        ("globex", "Summariser", "anthropic:claude-2.0"),
        ("initech", "Unconfigured app", None),
    )
    for team, name, app_model in apps:
        await _insert(
            session,
            m.App,
            team_id=t[team],
            name=name,
            llm_model_id=md[app_model] if app_model else None,
        )
    await _insert(
        session,
        m.Service,
        team_id=t["initech"],
        name="Nightly report",
        llm_model_id=md["openai:gpt-3.5-turbo"],
    )
    await _insert(
        session,
        m.Template,
        team_id=None,
        name="Default chat",
        llm_model_id=md["openai:gpt-4o"],
    )
    await _insert(
        session,
        m.Template,
        team_id=t["acme"],
        name="Escalation",
        llm_model_id=md["openai:gpt-4"],
    )
    await _insert(
        session,
        m.Template,
        team_id=t["globex"],
        name="Old research",
        llm_model_id=md["anthropic:claude-2.0"],
        deleted_at=func.now(),
    )
    secure = await _insert(
        session,
        m.Space,
        team_id=t["acme"],
        name="Secure space",
        required_security_level=2,
    )
    lab = await _insert(session, m.Space, team_id=t["globex"], name="Lab")
    await session.execute(
        insert(m.SpaceModel),
        [
            {"space_id": secure, "llm_model_id": md["openai:gpt-4"]},
            {"space_id": secure, "llm_model_id": md["openai:gpt-4o"]},
            {"space_id": lab, "llm_model_id": md["anthropic:claude-2.0"]},
            {"space_id": lab, "llm_model_id": md["anthropic:claude-3-5-sonnet-latest"]},
        ],
    )
    for team, name, models in (
        ("globex", "Research pipeline", ["anthropic:claude-2.0", "openai:gpt-4o"]),
        ("initech", "Ticket pipeline", ["openai:gpt-3.5-turbo", None]),
    ):
        nodes: list[dict[str, Any]] = [
            {
                "id": f"llm{i}",
                "type": "llm",
                "params": {"llm_model_id": str(md[mod]) if mod else None, "temperature": 0.3},
            }
            for i, mod in enumerate(models)
        ]
        nodes.insert(0, {"id": "start", "type": "start", "params": {}})
        await _insert(
            session,
            m.Pipeline,
            team_id=t[team],
            name=name,
            definition={"nodes": nodes},
        )
    for team, model, n in (
        ("acme", "openai:gpt-4", 3),
        ("acme", "openai:gpt-3.5-turbo", 2),
        ("globex", "anthropic:claude-2.0", 4),
        ("initech", "openai:gpt-3.5-turbo", 2),
    ):
        for _ in range(n):
            await _insert(
                session,
                m.Question,
                team_id=t[team],
                llm_model_id=md[model],
                prompt_tokens=120,
                completion_tokens=300,
            )
    await _insert(session, m.AppRun, team_id=t["globex"], llm_model_id=md["anthropic:claude-2.0"])


DEMO_CATALOG = """\
# The platform's declared global models (what `lifecycle catalog sync` reconciles).
[[models]]
provider = "openai"
name = "gpt-4o"
token_limit = 128000
vision = true
tools = true

[[models]]
provider = "openai"
name = "gpt-4o-mini"
token_limit = 128000
vision = true
tools = true

[[models]]
provider = "openai"
name = "gpt-4"
token_limit = 8192
tools = true
deprecated = true
replacement = "gpt-4o"

[[models]]
provider = "anthropic"
name = "claude-3-5-sonnet-latest"
token_limit = 200000
vision = true
tools = true

[[deleted]]
provider = "anthropic"
name = "claude-2.0"
replacement = "anthropic:claude-3-5-sonnet-latest"

[[deleted]]
provider = "openai"
name = "text-davinci-003"
"""
