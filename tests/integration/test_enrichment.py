"""Deprecation enrichment against real PostgreSQL: golden cases, events, stickiness."""

import dataclasses
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from db.models import LifecycleEvent, LifecycleRun, LlmModel, ModelMigration, Notification
from jobs import cost_map as cost_map_module
from jobs.catalog import SyncCatalogPayload, sync_catalog
from jobs.cost_map import CostMap, CostMapError, load_cost_map
from jobs.deprecation import CostMapUnavailable, EnrichPayload, enrich_deprecations
from jobs.runtime import Runtime
from tests.factories import Factory

FIXTURE = Path(__file__).parent.parent / "fixtures" / "cost_map_small.json"
TODAY = date(2026, 11, 21)


@pytest.fixture(scope="module")
def small_map() -> CostMap:
    return CostMap(json.loads(FIXTURE.read_text()), str(FIXTURE))


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], str]] = []

    async def __call__(self, job: str, payload: dict[str, Any], key: str) -> None:
        self.calls.append((job, payload, key))


async def _enrich(
    rt: Runtime, cmap: CostMap, dry_run: bool = False, today: date = TODAY
) -> dict[str, Any]:
    return await enrich_deprecations(rt, EnrichPayload(dry_run=dry_run), today=today, cost_map=cmap)


async def _models(rt: Runtime) -> dict[tuple[str, str], LlmModel]:
    async with rt.sessions() as session:
        rows = (await session.scalars(select(LlmModel))).all()
    return {(m.provider, m.name): m for m in rows}


async def _events(rt: Runtime) -> list[LifecycleEvent]:
    async with rt.sessions() as session:
        stmt = select(LifecycleEvent).order_by(LifecycleEvent.slug, LifecycleEvent.model_name)
        return list((await session.scalars(stmt)).all())


async def test_golden_cases_on_the_fixture_map(
    runtime: Runtime, factory: Factory, small_map: CostMap
) -> None:
    team = await factory.team()
    gpt4 = await factory.model("gpt-4")
    await factory.assistant(team, gpt4)
    replacement = await factory.model("gpt-4o")
    async with runtime.engine.begin() as conn:
        await conn.execute(
            LlmModel.__table__.update()
            .where(LlmModel.id == gpt4)
            .values(replacement_model_id=replacement)
        )
    await factory.model("gpt-4", "azure")
    await factory.model("gpt-4-32k")
    await factory.model("gpt-4-vision-preview")
    await factory.model("o1-preview")
    await factory.model(
        "gpt-3.5-turbo-0301",
        deprecated=True,
        deprecation_date=date(2025, 6, 1),
        deprecation_source="litellm",
    )
    await factory.model("prod-gpt4", "azure", litellm_model="gpt-4")
    await factory.model("gpt-4", team_id=team)  # a team's custom model is enriched too
    queue = Recorder()
    rt = dataclasses.replace(runtime, enqueue=queue)

    report = await _enrich(rt, small_map)

    models = await _models(rt)
    assert (models["openai", "gpt-4"].deprecated, models["openai", "gpt-4"].deprecation_source) == (
        True,
        "litellm",
    )
    assert models["openai", "gpt-4"].deprecation_date == date(2026, 3, 1)
    assert models["azure", "gpt-4"].deprecation_date == date(2027, 6, 30)
    assert not models["azure", "gpt-4"].deprecated
    assert models["azure", "prod-gpt4"].deprecation_date == date(2027, 6, 30)
    assert models["openai", "gpt-4-32k"].deprecation_date == date(2026, 12, 1)
    assert not models["openai", "gpt-4-32k"].deprecated
    assert models["openai", "o1-preview"].deprecation_date is None
    vanished = models["openai", "gpt-3.5-turbo-0301"]
    assert (vanished.deprecated, vanished.deprecation_date) == (True, date(2025, 6, 1))

    events = await _events(rt)
    assert [(e.slug, e.model_name, e.deprecation_date) for e in events] == [
        ("llm-model-deprecated", "gpt-4", date(2026, 3, 1)),
        ("llm-model-deprecated", "gpt-4", date(2026, 3, 1)),
        ("llm-model-retiring", "gpt-4-32k", date(2026, 12, 1)),
        ("llm-model-retiring", "gpt-4-vision-preview", date(2027, 1, 15)),
    ]
    global_event = next(e for e in events if e.model_id == gpt4)
    assert global_event.payload == {str(team): {"assistants": 1}}
    assert (global_event.replacement_provider, global_event.replacement_model_name) == (
        "openai",
        "gpt-4o",
    )
    assert sorted(p["event_id"] for job, p, _ in queue.calls if job == "fanout_event") == sorted(
        str(e.id) for e in events
    )
    assert report["events"] == 4
    assert [(r["model"], r["milestone"]) for r in report["reminders"]] == [
        ("openai:gpt-4-32k", 30),
        ("openai:gpt-4-vision-preview", 90),
    ]
    assert report["unmatched"] == ["openai:gpt-3.5-turbo-0301"]
    assert [k["date"] for k in report["kept"]] == ["2025-06-01"]
    assert [i["model"] for i in report["invalid_dates"]] == ["openai:o1-preview"]

    async with rt.sessions() as session:
        run = await session.scalar(select(LifecycleRun))
    assert run is not None
    assert (run.job, run.status, run.trigger) == ("enrich_deprecations", "succeeded", "manual")
    assert run.summary["unmatched"] == ["openai:gpt-3.5-turbo-0301"]
    assert run.summary["source"]["origin"] == str(FIXTURE)

    again = await _enrich(rt, small_map)
    assert again["events"] == 0 and again["newly_deprecated"] == [] and again["dates_set"] == []
    assert len(await _events(rt)) == 4


async def test_vanished_entry_keeps_date_and_flag(
    runtime: Runtime, factory: Factory, small_map: CostMap
) -> None:
    await factory.model("gpt-4")
    await _enrich(runtime, small_map)
    emptier = CostMap({k: v for k, v in small_map.entries.items() if k != "gpt-4"}, "smaller")

    report = await _enrich(runtime, emptier)

    model = (await _models(runtime))["openai", "gpt-4"]
    assert (model.deprecated, model.deprecation_date) == (True, date(2026, 3, 1))
    assert report["unmatched"] == ["openai:gpt-4"]
    assert report["kept"] == [{"model": "openai:gpt-4", "id": str(model.id), "date": "2026-03-01"}]


async def test_catalog_and_litellm_announce_a_deprecation_once(
    runtime: Runtime, factory: Factory, small_map: CostMap
) -> None:
    catalog = {
        "models": [{"provider": "openai", "name": "gpt-4", "token_limit": 8192, "deprecated": True}]
    }
    await sync_catalog(runtime, SyncCatalogPayload(catalog=catalog), today=TODAY)
    # The catalog drops the flag before the date passes; litellm flags it again later.
    catalog["models"][0]["deprecated"] = False
    await sync_catalog(runtime, SyncCatalogPayload(catalog=catalog), today=date(2026, 1, 1))
    assert not (await _models(runtime))["openai", "gpt-4"].deprecated

    report = await _enrich(runtime, small_map)

    assert [n["model"] for n in report["newly_deprecated"]] == ["openai:gpt-4"]
    assert report["events"] == 0
    assert [e.slug for e in await _events(runtime)] == ["llm-model-deprecated"]


async def test_dry_run_reports_and_changes_nothing(
    runtime: Runtime, factory: Factory, small_map: CostMap
) -> None:
    await factory.model("gpt-4")
    dry = await _enrich(runtime, small_map, dry_run=True)
    assert [n["model"] for n in dry["newly_deprecated"]] == ["openai:gpt-4"]
    assert not (await _models(runtime))["openai", "gpt-4"].deprecated
    assert await _events(runtime) == []
    real = await _enrich(runtime, small_map)
    sections = ("newly_deprecated", "retiring", "dates_set", "unmatched", "kept", "invalid_dates")
    for section in sections:
        assert dry[section] == real[section]


async def test_real_bundled_map_resolves_each_provider_to_its_own_entry(
    runtime: Runtime, factory: Factory
) -> None:
    bundled = load_cost_map()
    openai_gpt4 = await factory.model("gpt-4")
    azure_gpt4 = await factory.model("gpt-4", "azure")

    report = await _enrich(runtime, bundled, dry_run=True, today=date(2020, 1, 1))

    assert bundled.entries["gpt-4"]["litellm_provider"] == "openai"
    assert bundled.entries["azure/gpt-4"]["litellm_provider"] == "azure"
    dates = {d["id"]: d["to"] for d in report["dates_set"]}
    assert dates[str(openai_gpt4)] == bundled.entries["gpt-4"]["deprecation_date"]
    assert dates[str(azure_gpt4)] == bundled.entries["azure/gpt-4"]["deprecation_date"]
    assert dates[str(openai_gpt4)] != dates[str(azure_gpt4)]
    assert report["source"]["entries"] == len(bundled.entries) and report["unmatched"] == []


async def test_missing_cost_map_fails_permanently_and_is_recorded(
    make_runtime: Any, factory: Factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_bundled_map() -> Path:
        raise CostMapError("litellm's bundled map was not found")

    monkeypatch.setattr(cost_map_module, "bundled_map_path", no_bundled_map)
    rt = await make_runtime(cost_map_source=str(tmp_path / "missing.json"))
    await factory.model("gpt-4")

    with pytest.raises(CostMapUnavailable, match="no bundled map"):
        await enrich_deprecations(rt, EnrichPayload(trigger="cron"))

    async with rt.sessions() as session:
        run = await session.scalar(select(LifecycleRun))
    assert run is not None and (run.status, run.trigger) == ("failed", "cron")
    assert "CostMapUnavailable" in run.summary["error"]
    assert not (await _models(rt))["openai", "gpt-4"].deprecated


async def test_suggested_successor_is_announced_never_applied(
    runtime: Runtime, factory: Factory
) -> None:
    team = await factory.team()
    await factory.member(team)
    old = await factory.model("gpt-4-0613")
    await factory.assistant(team, old)
    await factory.model("gpt-4o", deprecated=True)  # litellm's successor, itself retired
    newest = await factory.model("gpt-4.1")
    cmap = CostMap(
        {
            "gpt-4-0613": {
                "litellm_provider": "openai",
                "deprecation_date": "2026-12-01",
                "successor_model": "gpt-4o",
            },
            "gpt-4o": {"litellm_provider": "openai", "successor_model": "gpt-4.1"},
            "gpt-4.1": {"litellm_provider": "openai"},
        },
        "test",
    )

    report = await _enrich(runtime, cmap)

    assert [(r["model"], r.get("suggested")) for r in report["reminders"]] == [
        ("openai:gpt-4-0613", "openai:gpt-4.1")
    ]
    (event,) = [e for e in await _events(runtime) if e.model_id == old]
    assert (event.suggested_provider, event.suggested_model_name) == ("openai", "gpt-4.1")
    assert event.replacement_provider is None
    models = await _models(runtime)
    assert models["openai", "gpt-4-0613"].replacement_model_id is None  # nothing applied
    async with runtime.engine.connect() as conn:
        migrations = await conn.scalar(select(func.count()).select_from(ModelMigration))
    assert migrations == 0

    from jobs.notifications import FanoutPayload, fanout_event

    await fanout_event(runtime, FanoutPayload(event_id=event.id))
    async with runtime.engine.connect() as conn:
        body, data = (await conn.execute(select(Notification.body, Notification.data))).one()
    assert "litellm suggests openai:gpt-4.1 (a suggestion: nothing is moved for you)" in body
    assert data["suggested_replacement"] == {"provider": "openai", "name": "gpt-4.1"}
    assert newest not in (models["openai", "gpt-4-0613"].migrated_to_model_id,)
