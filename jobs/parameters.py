"""Model parameters carried to a migration's target, translated by litellm.

A team's assistant keeps parameters such as ``{"max_tokens": 512, "temperature": 0.2}``.
Moved to another model they must still be ones it takes: each ``(key, value)`` pair is
put through litellm's own translation (``get_optional_params`` with ``drop_params``) for
the target and the outcome read back as one of

- **kept**: the target takes the key as it is;
- **renamed**: the target takes it under another OpenAI name (``max_tokens`` →
  ``max_completion_tokens`` for reasoning models);
- **clamped**: an output-token limit above the target's (the cost map's
  ``max_output_tokens``) is lowered to it;
- **dropped**: the target does not take it (``temperature`` 0.2 on ``o3-mini``);
- **unchecked**: litellm does not know the key; it is kept as the team wrote it.

Only the reference's own keys are written: whatever a translator adds of its own
(``stream``, ``extra_body``) is ignored, and a provider's native name (Anthropic's
``stop_sequences``) is not written for an OpenAI name litellm maps at call time.

litellm is imported here only, on first use, in a thread, with its bundled cost map
(``LITELLM_LOCAL_MODEL_COST_MAP``): its import takes seconds and would otherwise fetch the
map over the network. The CLI never imports this module's litellm path.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

from jobs.cost_map import CostMap, match_model

Action = Literal["kept", "renamed", "clamped", "dropped", "unchecked"]
OUTPUT_TOKEN_KEYS = ("max_tokens", "max_completion_tokens")
# Keys litellm adds to every answer, whatever it was given.
_TRANSLATOR_KEYS = ("stream", "extra_body")


@functools.cache
def _litellm() -> ModuleType:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm
    import litellm.utils

    return litellm


async def load_translator() -> None:
    """Import litellm off the event loop (seconds, once per process)."""
    await asyncio.to_thread(_litellm)


@dataclass(frozen=True)
class Target:
    """The model parameters are translated for."""

    provider: str
    model: str
    output_limit: int | None

    @classmethod
    def of(
        cls, provider: str, name: str, litellm_model: str | None, cost_map: CostMap | None
    ) -> Target:
        limit = None
        if cost_map is not None:
            entry = match_model(cost_map.entries, provider, name, litellm_model).entry
            value = (entry or {}).get("max_output_tokens")
            limit = value if isinstance(value, int) and value > 0 else None
        return cls(provider, litellm_model or name, limit)


@dataclass(frozen=True)
class Change:
    action: Action
    key: str
    value: Any
    to_key: str
    to_value: Any


def decide(target: Target, key: str, value: Any) -> Change:
    """What becomes of one ``key: value`` pair on ``target``."""
    return _decide(target, key, json.dumps(value, sort_keys=True))


@functools.lru_cache(maxsize=4096)
def _decide(target: Target, key: str, value_json: str) -> Change:
    value = json.loads(value_json)
    litellm = _litellm()
    if key not in litellm.OPENAI_CHAT_COMPLETION_PARAMS or key in _TRANSLATOR_KEYS:
        return Change("unchecked", key, value, key, value)
    try:
        answer = litellm.utils.get_optional_params(
            model=target.model,
            custom_llm_provider=target.provider,
            drop_params=True,
            **{key: value},
        )
    except Exception:  # litellm refuses the pair outright: the target cannot take it
        answer = {}
    answer = {k: v for k, v in answer.items() if k not in _TRANSLATOR_KEYS}
    if not answer:
        return Change("dropped", key, value, key, value)
    to_key = key
    if key not in answer and len(answer) == 1:
        (named,) = answer
        if named in litellm.OPENAI_CHAT_COMPLETION_PARAMS:
            to_key = named
    return _clamped(
        target, Change("renamed" if to_key != key else "kept", key, value, to_key, value)
    )


def _clamped(target: Target, change: Change) -> Change:
    limit = target.output_limit
    value = change.to_value
    over = isinstance(value, int | float) and not isinstance(value, bool)
    if change.to_key in OUTPUT_TOKEN_KEYS and limit is not None and over and value > limit:
        return Change("clamped", change.key, change.value, change.to_key, limit)
    return change


def rule(change: Change) -> dict[str, Any]:
    """The change as :mod:`db.queries.parameters` applies it (keys only where it changes)."""
    made: dict[str, Any] = {"k": change.key, "v": change.value}
    if change.to_key != change.key:
        made["to"] = change.to_key
    if change.to_value != change.value:
        made["set"] = change.to_value
    if change.action == "dropped":
        made["drop"] = True
    return made


@dataclass
class Tally:
    """Rows per change of one reference's parameters, for findings and dry runs."""

    label: str
    changes: dict[tuple[Action, str, str], int] = field(default_factory=dict)
    values: dict[tuple[Action, str, str], list[Any]] = field(default_factory=dict)

    def add(self, change: Change, rows: int) -> None:
        what = (change.action, change.key, change.to_key)
        self.changes[what] = self.changes.get(what, 0) + rows
        seen = self.values.setdefault(what, [])
        shown = change.to_value if change.action == "clamped" else change.value
        if shown not in seen:
            seen.append(shown)

    def lines(self, *actions: Action) -> list[str]:
        out = []
        for (action, key, to_key), rows in sorted(self.changes.items()):
            if action not in actions:
                continue
            values = ", ".join(json.dumps(v) for v in self.values[(action, key, to_key)][:3])
            what = {
                "kept": f"{key} kept",
                "renamed": f"{key} renamed to {to_key}",
                "clamped": f"{key} clamped to {values}",
                "dropped": f"{key} dropped (values {values})",
                "unchecked": f"{key} kept as written (litellm does not know it)",
            }[action]
            out.append(f"{self.label}: {what} in {rows} row(s)")
        return out


def tally(label: str, target: Target, pairs: Iterable[tuple[str, Any, int]]) -> Tally:
    """How ``pairs`` (key, value, rows) fare on ``target``."""
    result = Tally(label)
    for key, value, rows in pairs:
        result.add(decide(target, key, value), rows)
    return result
