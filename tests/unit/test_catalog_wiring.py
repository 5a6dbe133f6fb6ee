"""How the catalog and enrichment jobs are wired: cron schedule, client helpers (no services)."""

from datetime import time

from jobs.deprecation import CRONS
from worker.app import worker_kwargs
from worker.client import LifecycleClient
from worker.serialization import deserialize
from worker.settings import load_settings


def test_enrichment_runs_daily_at_the_configured_time_in_the_configured_zone() -> None:
    settings = load_settings(enrich_cron_time=time(4, 30), timezone="Europe/Berlin")
    [spec] = CRONS
    assert spec.schedule(settings) == {"hour": 4, "minute": 30, "second": 0}
    assert spec.payload == {"dry_run": False, "trigger": "cron"}
    kwargs = worker_kwargs(settings)
    [cron] = [c for c in kwargs["cron_jobs"] if c.name == "cron:enrich_deprecations"]
    assert (cron.hour, cron.minute, cron.second) == (4, 30, 0)
    assert str(kwargs["timezone"]) == "Europe/Berlin"


async def test_client_helpers_queue_typed_payloads(client: LifecycleClient) -> None:
    catalog = {"models": [{"provider": "openai", "name": "gpt-4o", "token_limit": 128000}]}
    sync = await client.sync_catalog(catalog, key="sync-1", requested_by="app")
    enrich = await client.enrich_deprecations(key="enrich-1", dry_run=True)

    assert (sync.job_id, enrich.job_id) == (
        client.job_id("sync_catalog", "sync-1"),
        client.job_id("enrich_deprecations", "enrich-1"),
    )
    assert sync.job_id.endswith(":sync_catalog:sync-1")
    sync_job = deserialize(await client.redis.get(f"arq:job:{sync.job_id}"))
    enrich_job = deserialize(await client.redis.get(f"arq:job:{enrich.job_id}"))
    assert sync_job["a"] == [{"catalog": catalog, "dry_run": False, "requested_by": "app"}]
    assert enrich_job["a"] == [{"dry_run": True, "trigger": "manual"}]
    again = await client.sync_catalog(catalog, key="sync-1")
    assert not again.created
