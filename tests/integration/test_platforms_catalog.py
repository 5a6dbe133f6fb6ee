"""The catalog sync and deprecation enrichment on every host platform: global models are
created, updated and deprecated in the host's model table; dates land in the model's
lifecycle state; a second run changes nothing."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path
from typing import Any

from jobs.catalog import SyncCatalogPayload, sync_catalog
from jobs.cost_map import CostMap
from jobs.deprecation import EnrichPayload, enrich_deprecations
from jobs.runtime import Runtime
from tests.conftest import PlatformUnderTest
from tests.platforms import every_platform
from tests.platforms.drivers import PLAIN
from tests.platforms.lifecycle import events, global_model, model_state

pytestmark = every_platform

TODAY = date(2026, 11, 21)
COST_MAP = Path(__file__).parent.parent / "fixtures" / "cost_map_small.json"


async def _ignore(job: str, payload: dict[str, Any], key: str) -> None:
    """No queue: follow-up jobs are not this test's subject."""


def quiet(runtime: Runtime) -> Runtime:
    return dataclasses.replace(runtime, enqueue=_ignore)


async def sync(runtime: Runtime, catalog: dict[str, Any]) -> dict[str, Any]:
    payload = SyncCatalogPayload(catalog=catalog, dry_run=False, requested_by="tester")
    return await sync_catalog(quiet(runtime), payload, today=TODAY)


CATALOG = {
    "models": [
        {"provider": "openai", "name": "xp-new", "token_limit": 128000},
        {"provider": "openai", "name": "xp-kept", "token_limit": 16000},
        {
            "provider": "openai",
            "name": "xp-old",
            "token_limit": 8192,
            "deprecated": True,
            "replacement": "xp-new",
        },
    ]
}


async def test_catalog_sync_creates_updates_and_deprecates_then_changes_nothing(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    team = await driver.team()
    kept = await driver.model("xp-kept", token_limit=4096)
    old = await driver.model("xp-old", token_limit=8192)
    labels = await driver.live_reference(team, old, PLAIN)

    result = await sync(runtime, CATALOG)

    plan = result["plan"]
    assert [c["model"] for c in plan["created"]] == ["openai:xp-new"]
    assert {u["model"] for u in plan["updated"]} == {"openai:xp-kept", "openai:xp-old"}
    assert [d["model"] for d in plan["deprecated"]] == ["openai:xp-old"]
    new = await global_model(runtime, "xp-new")
    assert new is not None
    assert await driver.model_row(new.id) == {
        "provider": "openai",
        "name": "xp-new",
        "team": None,
        "token_limit": 128000,
    }
    assert (await driver.model_row(kept) or {})["token_limit"] == 16000
    state = await model_state(runtime, old)
    assert state.deprecated and state.replacement_model_id == new.id
    assert not (await model_state(runtime, kept)).deprecated
    [event] = await events(runtime)
    assert (event.slug, event.model_id) == ("llm-model-deprecated", str(old))
    assert event.payload == {str(team): {label: 1 for label in labels}}

    host = await driver.host_checksum()
    again = await sync(runtime, CATALOG)

    assert {k: again["counts"][k] for k in ("created", "updated", "deprecated")} == {
        "created": 0,
        "updated": 0,
        "deprecated": 0,
    }
    assert await driver.host_checksum() == host
    assert len(await events(runtime)) == 1


async def enrich(runtime: Runtime) -> dict[str, Any]:
    cost_map = CostMap(json.loads(COST_MAP.read_text()), str(COST_MAP))
    return await enrich_deprecations(
        quiet(runtime), EnrichPayload(dry_run=False), today=TODAY, cost_map=cost_map
    )


async def test_enrichment_puts_the_deprecation_date_in_the_model_state(
    platform: PlatformUnderTest,
) -> None:
    driver, runtime = platform.driver, platform.runtime
    team = await driver.team()
    past = await driver.model("claude-3-opus-20240229", "anthropic")
    labels = await driver.live_reference(team, past, PLAIN)
    future = await driver.model("gpt-4-vision-preview")
    custom = await driver.model("gpt-4-32k", team=team)
    unknown = await driver.model("xp-not-in-the-map")

    await enrich(runtime)

    past_state = await model_state(runtime, past)
    assert (past_state.deprecated, past_state.deprecation_date) == (True, date(2026, 1, 5))
    future_state = await model_state(runtime, future)
    assert (future_state.deprecated, future_state.deprecation_date) == (False, date(2027, 1, 15))
    custom_state = await model_state(runtime, custom)
    assert (custom_state.deprecated, custom_state.deprecation_date) == (False, date(2026, 12, 1))
    unknown_state = await model_state(runtime, unknown)
    assert (unknown_state.deprecated, unknown_state.deprecation_date) == (False, None)
    mine = {str(m) for m in (past, future, custom, unknown)}
    found = [e for e in await events(runtime) if e.model_id in mine]
    deprecated = [e for e in found if e.slug == "llm-model-deprecated"]
    assert [(e.model_id, e.deprecation_date, e.payload) for e in deprecated] == [
        (str(past), date(2026, 1, 5), {str(team): {label: 1 for label in labels}})
    ]
    # Both dates fall within a reminder milestone (90 and 30 days ahead).
    retiring = {e.model_id for e in found if e.slug == "llm-model-retiring"}
    assert retiring == {str(future), str(custom)}

    host, emitted = await driver.host_checksum(), len(await events(runtime))
    await enrich(runtime)
    assert await driver.host_checksum() == host
    assert len(await events(runtime)) == emitted
