"""``lifecycle demo``: a demo platform taken through the whole model lifecycle by a real
worker, each step's report printed as the CLI would print it."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
from pydantic import SecretStr

from db.demo_seed import DEMO_CATALOG, DemoIds, is_seeded, seed_demo
from db.migrate import upgrade
from db.queries.notifications import pending_events, recent_notifications
from jobs.catalog_file import read_catalog_file
from jobs.request_result import RequestResult
from worker.app import build_runtime, make_worker
from worker.cli.catalog import render_plan
from worker.cli.cleanup import render_report as render_cleanup
from worker.cli.enrich import render_report as render_enrichment
from worker.cli.history import history_rows, render_history
from worker.cli.migrate import render_request
from worker.cli.notifications import render_notifications
from worker.client import JobFailed, LifecycleClient
from worker.devservices import with_database
from worker.health import asyncpg_dsn
from worker.settings import Settings

DEMO_DATABASE = "lifecycle_demo"
STEP_TIMEOUT_S = 120.0
Write = Callable[[str], None]


async def recreate_database(settings: Settings, name: str) -> str:
    """Drop and create database ``name`` on the configured server; returns its URL."""
    base = settings.database_url.get_secret_value()
    conn = await asyncpg.connect(asyncpg_dsn(with_database(base, "postgres")), timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(base, name)


def demo_settings(settings: Settings, database_url: str) -> Settings:
    """The configured settings on the demo database and a queue of the demo's own. The
    demo database holds the built-in reference platform, whatever mapping is configured.

    The undo window is off: the tour's cleanup removes at once what its requests retired
    (a deployment keeps them ``LIFECYCLE_UNDO_DAYS``, 7 by default, so they can be undone).
    """
    return settings.model_copy(
        update={
            "database_url": SecretStr(database_url),
            "queue_name": f"lifecycle-demo:{uuid.uuid4().hex[:8]}",
            "health_check_interval_seconds": 5,
            "platform_file": None,
            "undo_days": 0,
        }
    )


class NotForMappedHost(Exception):
    """The demo seeds the reference platform; it is not for a mapped host's database."""


async def seed(settings: Settings) -> DemoIds | None:
    """Seed the demo platform unless it is there already (then ``None``)."""
    runtime = build_runtime(settings)
    try:
        async with runtime.sessions() as session, session.begin():
            if await is_seeded(session):
                return None
            return await seed_demo(session)
    finally:
        await runtime.engine.dispose()


class Demo:
    """Runs the steps against one client and collects their results."""

    def __init__(self, client: LifecycleClient, settings: Settings, write: Write) -> None:
        self.client = client
        self.settings = settings
        self.write = write
        self.run = uuid.uuid4().hex[:8]
        self.results: dict[str, Any] = {}

    def heading(self, title: str, command: str) -> None:
        self.write(f"\n=== {title}\n$ {command}")

    async def job(
        self, name: str, job: str, payload: dict[str, Any], key: str | None = None
    ) -> Any:
        handle = await self.client.enqueue(job, payload, key=key or f"demo-{self.run}-{name}")
        return await self.wait(name, handle.job_id)

    async def wait(self, name: str, job_id: str) -> Any:
        try:
            result = await self.client.result(job_id, timeout_s=STEP_TIMEOUT_S)
        except JobFailed as exc:
            result = {"status": "failed", "error": exc.error}
        self.results[name] = result
        return result

    async def migrate(self, name: str, source: str, target: str, confirm: bool) -> dict[str, Any]:
        key = f"demo-{self.run}-{name}"
        payload = {
            "source": source,
            "target": target,
            "requested_by": "demo",
            "request_key": key,
            "confirm_warnings": confirm,
        }
        result: dict[str, Any] = await self.job(name, "migrate_model", payload, key)
        self.write(request_text(result))
        return result


def request_text(result: dict[str, Any]) -> str:
    """A request job's result as ``lifecycle migrate`` prints it (a job that failed: its
    error, as :meth:`Demo.wait` keeps it)."""
    error = result.get("error")
    if isinstance(error, dict):
        return f"the job failed: {error.get('error')}: {error.get('message')}"
    return render_request(RequestResult.model_validate(result))


async def _steps(demo: Demo, ids: DemoIds, runtime_settings: Settings) -> None:
    w = demo.write
    demo.heading(
        "1. Catalog sync: gpt-4 deprecated, claude-2.0 and text-davinci-003 deleted",
        "lifecycle catalog sync models.toml",
    )
    synced = await demo.job(
        "catalog",
        "sync_catalog",
        {"catalog": read_catalog_file(DEMO_CATALOG), "requested_by": "demo"},
    )
    w(render_plan(synced["plan"], dry_run=False))
    for key in synced.get("delete_requests", []):
        w(f"\n-- deletion requested by the catalog ({key}), run by the worker:")
        w(request_text(await demo.wait(key, demo.client.job_id("delete_model", key))))

    demo.heading("2. Deprecation dates from litellm's bundled cost map", "lifecycle enrich")
    enriched = await demo.job("enrich", "enrich_deprecations", {"trigger": "manual"})
    w(render_enrichment(enriched))

    demo.heading(
        "3. Migration with warnings: refused, then confirmed",
        "lifecycle migrate openai:gpt-3.5-turbo anthropic:claude-3-5-sonnet-latest",
    )
    await demo.migrate(
        "migrate-unconfirmed",
        "openai:gpt-3.5-turbo",
        "anthropic:claude-3-5-sonnet-latest",
        confirm=False,
    )
    w(
        "\n$ lifecycle migrate openai:gpt-3.5-turbo anthropic:claude-3-5-sonnet-latest "
        "--confirm-warnings"
    )
    await demo.migrate(
        "migrate-confirmed",
        "openai:gpt-3.5-turbo",
        "anthropic:claude-3-5-sonnet-latest",
        confirm=True,
    )

    custom = ids.models["acme:support-ft"]
    demo.heading(
        "4. Refused migrations: blockers change nothing", f"lifecycle migrate openai:gpt-4 {custom}"
    )
    await demo.migrate("refused-scope", "openai:gpt-4", str(custom), confirm=True)
    w("\n$ lifecycle migrate openai:gpt-4 openai:gpt-4o --confirm-warnings")
    await demo.migrate("refused-security", "openai:gpt-4", "openai:gpt-4o", confirm=True)

    demo.heading(
        "5. Notifications: each affected team's model managers, once", "lifecycle notifications"
    )
    w(await _notifications(runtime_settings))

    demo.heading("6. Weekly cleanup, run on demand", "lifecycle cleanup")
    cleaned = await demo.job(
        "cleanup", "cleanup_retired_models", {"dry_run": False, "trigger": "manual"}
    )
    w(render_cleanup(cleaned))

    demo.heading("7. History keeps every request, with name snapshots", "lifecycle history")
    w(render_history(await history_rows(runtime_settings, None, 50) or []))


async def _notifications(settings: Settings) -> str:
    """Once every outbox event is fanned out, the notifications as the CLI lists them."""
    runtime = build_runtime(settings)
    try:
        for _ in range(int(STEP_TIMEOUT_S * 5)):
            async with runtime.sessions() as session:
                if not await pending_events(session, min_age_seconds=0, limit=1):
                    break
            await asyncio.sleep(0.2)
        async with runtime.sessions() as session:
            rows = await recent_notifications(session, runtime.platform, limit=100)
    finally:
        await runtime.engine.dispose()
    return render_notifications(rows)


async def run_demo(
    settings: Settings, write: Write = print, database: str = DEMO_DATABASE
) -> dict[str, Any]:
    """Create the demo database, seed it, and drive every step through a real worker."""
    url = await recreate_database(settings, database)
    await asyncio.to_thread(upgrade, url)
    demo_cfg = demo_settings(settings, url)
    ids = await seed(demo_cfg)
    assert ids is not None
    if settings.platform_file is not None:
        write(
            f"the demo runs the built-in reference platform in its own database; "
            f"LIFECYCLE_PLATFORM_FILE ({settings.platform_file}) is not used for it"
        )
    write(
        f"demo database {database} seeded: {len(ids.teams)} teams, "
        f"{len(ids.models)} models; starting a worker on queue {demo_cfg.queue_name}"
    )
    worker = make_worker(demo_cfg, poll_delay=0.05, handle_signals=False)
    running = asyncio.create_task(worker.async_run())
    try:
        async with LifecycleClient(demo_cfg) as client:
            demo = Demo(client, demo_cfg, write)
            steps = asyncio.create_task(_steps(demo, ids, demo_cfg))
            # A worker that stops (it could not start) ends the demo at once, with its
            # reason, instead of each step waiting for a result that never comes.
            await asyncio.wait({steps, running}, return_when=asyncio.FIRST_COMPLETED)
            if not steps.done():
                steps.cancel()
                running.result()
                raise RuntimeError("the demo's worker stopped before the demo finished")
            steps.result()
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await running
        await worker.close()
    write("\ndemo finished: every step above ran as a job on a real worker.")
    return demo.results


async def prepare_current_database(settings: Settings) -> int:
    """Seed the demo platform into the configured database and queue some work.

    Used by ``make run`` on embedded services only, so a new worker has real jobs to do.
    Refused (``NotForMappedHost``) when a platform mapping is configured.
    """
    if settings.platform_file is not None:
        raise NotForMappedHost(
            "the demo seeds the built-in reference platform; LIFECYCLE_PLATFORM_FILE "
            f"({settings.platform_file}) maps another host's database, which the demo never "
            "writes to: unset it, or run `lifecycle demo` (it makes a database of its own)"
        )
    ids = await seed(settings)
    if ids is None:
        return 0
    async with LifecycleClient(settings) as client:
        run = uuid.uuid4().hex[:8]
        await client.enqueue(
            "sync_catalog",
            {"catalog": read_catalog_file(DEMO_CATALOG), "requested_by": "make run"},
            key=f"make-run-{run}-catalog",
        )
        await client.enqueue(
            "enrich_deprecations", {"trigger": "manual"}, key=f"make-run-{run}-enrich"
        )
        await client.enqueue(
            "migrate_model",
            {
                "source": "openai:gpt-3.5-turbo",
                "target": "anthropic:claude-3-5-sonnet-latest",
                "requested_by": "make run",
                "request_key": f"make-run-{run}-migrate",
                "confirm_warnings": True,
            },
            key=f"make-run-{run}-migrate",
        )
    return 3
