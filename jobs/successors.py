"""Suggested successors: litellm's ``successor_model``, resolved to a usable model here.

A suggestion is shown to people (events, notification bodies, the ``enrich`` report) and
never acted on: nothing is migrated to a suggested model. A successor counts when a model
of the platform answers to it, belongs to the same provider family, is in service and
not deprecated (nor past its date), and is visible to the retiring model's owner (a
global model, or the same team's). A successor that is not usable here is followed to its
own successor, a few steps at most.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from datetime import date
from typing import Any, NamedTuple

from db.keys import HostId
from jobs.cost_map import family_of

MAX_STEPS = 5


class Candidate(NamedTuple):
    """A model in service that a successor name might resolve to."""

    id: HostId
    provider: str
    name: str
    team_id: HostId | None
    deprecated: bool
    deprecation_date: date | None


def _names(key: str) -> tuple[str, ...]:
    """``anthropic/claude-x`` also answers to ``claude-x``."""
    tail = key.rsplit("/", 1)[-1]
    return (key, tail) if tail != key else (key,)


class SuccessorIndex:
    """Models in service by every name a cost-map successor may use for them."""

    def __init__(self, models: Iterable[tuple[Candidate, str | None, str | None]]) -> None:
        """``models``: (candidate, its matched cost-map key, its ``litellm_model``)."""
        self._by_name: dict[str, list[Candidate]] = {}
        for candidate, key, litellm_model in models:
            names = {candidate.name, f"{candidate.provider}/{candidate.name}"}
            names.update(n for n in (key, litellm_model) if n)
            for name in names:
                self._by_name.setdefault(name, []).append(candidate)

    def lookup(self, successor: str) -> list[Candidate]:
        """Every model answering to ``successor`` (or its name without the prefix)."""
        found: dict[HostId, Candidate] = {}
        for name in _names(successor):
            for c in self._by_name.get(name, ()):
                found.setdefault(c.id, c)
        return list(found.values())


def _usable(c: Candidate, owner: Candidate, today: date, retiring: AbstractSet[HostId]) -> bool:
    return (
        c.id != owner.id
        and c.id not in retiring
        and not c.deprecated
        and (c.deprecation_date is None or c.deprecation_date > today)
        and (c.team_id is None or c.team_id == owner.team_id)
        and family_of(c.provider) == family_of(owner.provider)
    )


def suggest_successor(
    owner: Candidate,
    entry: dict[str, Any],
    entries: dict[str, Any],
    index: SuccessorIndex,
    today: date,
    retiring: AbstractSet[HostId] = frozenset(),
) -> Candidate | None:
    """The platform model to suggest for ``owner`` (whose cost-map entry is ``entry``).

    Same-team models win over global ones, then the name decides, so the answer is
    stable. ``retiring`` holds models this run is about to deprecate.
    """
    seen: set[str] = set()
    successor = successor_of(entry)
    for _ in range(MAX_STEPS):
        if not isinstance(successor, str) or not successor.strip() or successor in seen:
            return None
        seen.add(successor)
        usable = [c for c in index.lookup(successor) if _usable(c, owner, today, retiring)]
        if usable:
            return min(usable, key=lambda c: (c.team_id is None, c.provider, c.name))
        following = entries.get(successor)
        successor = successor_of(following) if isinstance(following, dict) else None
    return None


def successor_of(entry: dict[str, Any]) -> object:
    """The successor a cost-map entry names: ``successor_model``, or the bundled map's
    ``metadata.successor``."""
    if "successor_model" in entry:
        return entry["successor_model"]
    metadata = entry.get("metadata")
    return metadata.get("successor") if isinstance(metadata, dict) else None
