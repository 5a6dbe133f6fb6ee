"""Suggested successors: litellm's ``successor_model`` resolved to a usable model here."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from jobs.successors import Candidate, SuccessorIndex, suggest_successor

TODAY = date(2026, 11, 21)
TEAM = uuid.uuid4()
OTHER_TEAM = uuid.uuid4()


def model(
    name: str,
    provider: str = "openai",
    *,
    team: uuid.UUID | None = None,
    deprecated: bool = False,
    when: date | None = None,
) -> Candidate:
    return Candidate(uuid.uuid4(), provider, name, team, deprecated, when)


ENTRIES: dict[str, Any] = {
    "gpt-4-0613": {"litellm_provider": "openai", "successor_model": "gpt-4o"},
    "gpt-4o": {"litellm_provider": "openai", "successor_model": "gpt-4.1"},
    "gpt-4.1": {"litellm_provider": "openai"},
    "claude-2.1": {"litellm_provider": "anthropic", "successor_model": "anthropic/claude-3-5"},
    "loop-a": {"litellm_provider": "openai", "successor_model": "loop-b"},
    "loop-b": {"litellm_provider": "openai", "successor_model": "loop-a"},
}


def suggest(owner: Candidate, platform: list[Candidate], key: str) -> Candidate | None:
    index = SuccessorIndex((c, c.name, None) for c in [owner, *platform])
    return suggest_successor(owner, ENTRIES[key], ENTRIES, index, TODAY)


def test_successor_present_on_the_platform_is_suggested() -> None:
    old, new = model("gpt-4-0613"), model("gpt-4o")
    assert suggest(old, [new], "gpt-4-0613") == new


@pytest.mark.parametrize(
    ("successor", "why"),
    [
        (model("gpt-4o", deprecated=True), "deprecated"),
        (model("gpt-4o", when=date(2026, 11, 1)), "its own date has passed"),
        (model("gpt-4o", "azure"), "another provider family"),
        (model("gpt-4o", team=OTHER_TEAM), "another team's custom model"),
    ],
)
def test_unusable_successor_is_skipped_for_its_own_successor(
    successor: Candidate, why: str
) -> None:
    old, newer = model("gpt-4-0613"), model("gpt-4.1")
    assert suggest(old, [successor, newer], "gpt-4-0613") == newer, why
    assert suggest(old, [successor], "gpt-4-0613") is None, why


def test_prefixed_successor_matches_the_bare_name_and_team_models_win() -> None:
    old = model("claude-2.1", "anthropic", team=TEAM)
    global_new = model("claude-3-5", "anthropic")
    team_new = model("claude-3-5", "anthropic", team=TEAM)
    assert suggest(old, [global_new], "claude-2.1") == global_new
    assert suggest(old, [global_new, team_new], "claude-2.1") == team_new


def test_cycles_and_missing_successors_end_without_a_suggestion() -> None:
    assert suggest(model("loop-a"), [], "loop-a") is None
    assert suggest(model("gpt-4.1"), [model("gpt-4o")], "gpt-4.1") is None


def test_the_bundled_maps_metadata_successor_is_read_too() -> None:
    """litellm's bundled map names successors as ``metadata.successor``."""
    entries: dict[str, Any] = {
        "together_ai/deepseek-ai/DeepSeek-V3": {
            "litellm_provider": "together_ai",
            "metadata": {"successor": "together_ai/deepseek-ai/DeepSeek-V4-Pro-0813"},
        },
    }
    old = model("deepseek-ai/DeepSeek-V3", "together_ai")
    new = model("deepseek-ai/DeepSeek-V4-Pro-0813", "together_ai")
    index = SuccessorIndex((c, c.name, None) for c in [old, new])
    key = "together_ai/deepseek-ai/DeepSeek-V3"
    assert suggest_successor(old, entries[key], entries, index, TODAY) == new
