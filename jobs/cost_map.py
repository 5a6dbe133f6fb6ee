"""litellm's model cost map: finding it, loading it, and matching our models against it.

The map is read as JSON straight from the installed ``litellm`` package; litellm itself
is never imported (its import takes seconds and fetches the map from the network).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

log = logging.getLogger("lifecycle.cost_map")

BUNDLED_FILE = "model_prices_and_context_window_backup.json"
URL_TIMEOUT_SECONDS = 10.0
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CostMapError(RuntimeError):
    """No usable cost map could be found."""


@dataclass(frozen=True)
class CostMap:
    """The loaded map and where it came from."""

    entries: dict[str, Any]
    origin: str
    warning: str | None = None

    def describe(self) -> dict[str, Any]:
        """For reports: origin, size, and why a configured source was not used."""
        return {"origin": self.origin, "entries": len(self.entries), "warning": self.warning}


def bundled_map_path() -> Path:
    """The map shipped inside the installed litellm package (found without importing it)."""
    spec = importlib.util.find_spec("litellm")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / BUNDLED_FILE
        if path.is_file():
            return path
    raise CostMapError(f"litellm's bundled {BUNDLED_FILE} was not found (is litellm installed?)")


def _read_source(source: str) -> bytes:
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=URL_TIMEOUT_SECONDS) as response:
            data: bytes = response.read()
            return data
    return Path(source).expanduser().read_bytes()


def parse_map(data: bytes) -> dict[str, Any]:
    """Parse a cost map; it must be a JSON object."""
    entries = json.loads(data)
    if not isinstance(entries, dict):
        raise ValueError(f"expected a JSON object, got {type(entries).__name__}")
    return entries


def load_cost_map(source: str | None = None) -> CostMap:
    """The configured map if it parses and is at least half the bundled one's size,
    otherwise the bundled map (with a logged warning saying why)."""
    if source is None:
        path = bundled_map_path()
        return CostMap(parse_map(path.read_bytes()), str(path))
    problem = ""
    override: dict[str, Any] | None = None
    try:
        override = parse_map(_read_source(source))
    except Exception as exc:  # any unusable source falls back to the bundled map
        problem = f"{type(exc).__name__}: {exc}"
    try:
        path = bundled_map_path()
        bundled = parse_map(path.read_bytes())
    except (CostMapError, OSError, ValueError):
        if override is None:
            raise CostMapError(
                f"cost map source {source!r} unusable ({problem}) and no bundled map"
            ) from None
        log.warning("no bundled litellm cost map to compare %s with; using it as is", source)
        return CostMap(override, source, "no bundled map to compare with")
    if override is not None:
        if len(override) * 2 >= len(bundled):
            return CostMap(override, source)
        problem = f"only {len(override)} entries, fewer than half of the bundled {len(bundled)}"
    warning = f"cost map source {source!r} not used: {problem}; using the bundled map"
    log.warning("%s", warning)
    return CostMap(bundled, str(path), warning)


@dataclass(frozen=True)
class ProviderFamily:
    """Which cost-map entries may describe a model of one of our providers."""

    litellm_providers: frozenset[str]
    prefixes: tuple[str, ...]
    litellm_provider_prefixes: tuple[str, ...] = ()
    region_prefixes: tuple[str, ...] = ()

    def accepts(self, litellm_provider: object) -> bool:
        """Whether an entry with this ``litellm_provider`` belongs to the family."""
        if not isinstance(litellm_provider, str):
            return False
        return litellm_provider in self.litellm_providers or litellm_provider.startswith(
            self.litellm_provider_prefixes or ("\0",)
        )


_BEDROCK_REGIONS = ("us.", "eu.", "apac.", "au.", "jp.", "ca.", "global.", "us-gov.")
_GOOGLE = ProviderFamily(
    frozenset({"gemini"}), ("gemini/", "vertex_ai/", ""), litellm_provider_prefixes=("vertex_ai",)
)

# Our provider name → the family of litellm entries it may match. Candidate keys are
# tried in prefix order; a provider missing here matches only its own litellm name.
PROVIDER_FAMILIES: dict[str, ProviderFamily] = {
    "openai": ProviderFamily(frozenset({"openai", "text-completion-openai"}), ("", "openai/")),
    "azure": ProviderFamily(frozenset({"azure", "azure_text"}), ("azure/",)),
    "azure_ai": ProviderFamily(frozenset({"azure_ai"}), ("azure_ai/",)),
    "anthropic": ProviderFamily(frozenset({"anthropic"}), ("", "anthropic/")),
    "google": _GOOGLE,
    "gemini": ProviderFamily(frozenset({"gemini"}), ("gemini/", "")),
    "vertex_ai": ProviderFamily(
        frozenset(), ("vertex_ai/", ""), litellm_provider_prefixes=("vertex_ai",)
    ),
    "bedrock": ProviderFamily(
        frozenset({"bedrock", "bedrock_converse"}),
        ("", "bedrock/", "bedrock/converse/"),
        region_prefixes=_BEDROCK_REGIONS,
    ),
    "mistral": ProviderFamily(
        frozenset({"mistral", "codestral", "text-completion-codestral"}),
        ("mistral/", "", "codestral/"),
    ),
    "cohere": ProviderFamily(frozenset({"cohere", "cohere_chat"}), ("", "cohere/")),
}


@functools.cache
def family_of(provider: str) -> ProviderFamily:
    """The family of ``provider`` (an unknown provider matches its own name only)."""
    family = PROVIDER_FAMILIES.get(provider.lower())
    if family is not None:
        return family
    return ProviderFamily(frozenset({provider.lower()}), ("", f"{provider.lower()}/"))


def _candidates(family: ProviderFamily, base: str) -> Iterator[str]:
    """Keys to try, best first; generated lazily because most models match early."""
    for prefix in family.prefixes:
        yield prefix + base
    regions = family.region_prefixes
    if not regions:
        return
    stripped = next((base[len(r) :] for r in regions if base.startswith(r)), None)
    others = [stripped] if stripped is not None else [r + base for r in regions]
    for other in others:
        for prefix in family.prefixes:
            yield prefix + other


def candidate_keys(provider: str, name: str, litellm_model: str | None = None) -> list[str]:
    """Cost-map keys to try, best first.

    ``litellm_model`` is a key as litellm users write it (``azure/gpt-4o``), so it is tried
    as given first, then with the provider's prefixes; without it, the name with prefixes.
    """
    return list(dict.fromkeys(_lookup_keys(family_of(provider), name, litellm_model)))


def _lookup_keys(family: ProviderFamily, name: str, litellm_model: str | None) -> Iterator[str]:
    if litellm_model:
        yield litellm_model
    yield from _candidates(family, litellm_model or name)


class Match(NamedTuple):
    """The outcome of looking one model up: the accepted key, or why there is none."""

    key: str | None
    entry: dict[str, Any] | None
    reason: str | None = None


NO_ENTRY = Match(None, None, "no entry")
# tuple.__new__ straight from C: a NamedTuple's own constructor is Python code, and
# this runs once per model.
_found = functools.partial(tuple.__new__, Match)


def match_model(
    entries: dict[str, Any], provider: str, name: str, litellm_model: str | None = None
) -> Match:
    """The first candidate key whose entry belongs to the model's provider family."""
    family = family_of(provider)
    base = litellm_model or name
    other_provider = False
    if litellm_model:
        # The override as written (``azure/gpt-4o``) before any prefix is added to it.
        entry = entries.get(litellm_model)
        if entry.__class__ is dict:
            if family.accepts(entry.get("litellm_provider")):
                return Match(litellm_model, entry)
            other_provider = True
    # Hot path (thousands of models a run): the plain prefixes, no generator, no lists.
    for prefix in family.prefixes:
        key = prefix + base
        entry = entries.get(key)
        if entry.__class__ is dict:
            found = entry.get("litellm_provider")
            if found in family.litellm_providers or family.accepts(found):
                return _found((key, entry, None))
            other_provider = True
    if not other_provider and not family.region_prefixes:
        return NO_ENTRY
    rejected: list[str] = []
    for key in _lookup_keys(family, name, litellm_model):
        entry = entries.get(key)
        if entry.__class__ is not dict:
            continue
        found = entry.get("litellm_provider")
        if found in family.litellm_providers or family.accepts(found):
            return Match(key, entry)
        rejected.append(f"{key} ({found})")
    if rejected:
        return Match(None, None, "other provider: " + ", ".join(dict.fromkeys(rejected)))
    return NO_ENTRY


def parse_iso_date(value: object) -> date | None:
    """``YYYY-MM-DD`` → a date; anything else (other formats, impossible dates) → None."""
    return _parse_iso_text(value) if isinstance(value, str) else None


@functools.lru_cache(maxsize=4096)
def _parse_iso_text(value: str) -> date | None:
    # Cached: the same few hundred dates recur across thousands of entries.
    if not _ISO_DATE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None
