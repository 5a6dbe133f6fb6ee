"""Naming a model in a payload or on the command line: its id or ``provider:name``.

An id is written as the host keeps it: a whole number (bigint or integer keys) or a UUID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId, parse_host_id
from db.models import LlmModel
from db.queries.models import find_live_model, find_model_by_id_text, find_models_by_name

_NAME = re.compile(r"^(?P<provider>[A-Za-z0-9_.-]{1,64}):(?P<name>[^\s:\x00][^\s\x00]{0,199})$")


class ModelRefError(ValueError):
    """The text names no model in an accepted form."""


@dataclass(frozen=True)
class ModelRef:
    """A parsed model reference."""

    model_id: HostId | None = None
    provider: str | None = None
    name: str | None = None

    def __str__(self) -> str:
        return str(self.model_id) if self.model_id is not None else f"{self.provider}:{self.name}"


def model_label(provider: str | None, name: str | None, team_id: object = None) -> str:
    """``provider:name``, and ``(team T)`` for a team's custom model: a global model and a
    team's model of the same name are never shown alike."""
    label = f"{provider}:{name}"
    return f"{label} (team {team_id})" if team_id not in (None, "") else label


def parse_model_ref(value: str) -> ModelRef:
    """Parse ``value`` as an id or ``provider:name``; raise a message saying which is wanted."""
    value = value.strip()
    try:
        return ModelRef(model_id=parse_host_id(value))
    except ValueError:
        pass
    match = _NAME.match(value)
    if not match:
        raise ModelRefError(
            f"{value!r} is not a model reference: use the model's id (a number or a UUID, "
            "as the platform keys its models) or provider:name (for example openai:gpt-4o)"
        )
    return ModelRef(provider=match["provider"], name=match["name"])


async def resolve_model_ref(session: AsyncSession, ref: ModelRef) -> LlmModel | None:
    """The model ``ref`` names, or ``None``.

    ``provider:name`` names the global model: the live one if there is one, otherwise the
    newest deleted global row (so a caller can say "deleted" rather than "not found").
    """
    if ref.model_id is not None:
        return await find_model_by_id_text(session, ref.model_id)
    assert ref.provider is not None and ref.name is not None
    live = await find_live_model(session, ref.provider, ref.name)
    if live is not None:
        return live
    deleted = [
        m for m in await find_models_by_name(session, ref.provider, ref.name) if m.team_id is None
    ]
    return deleted[0] if deleted else None
