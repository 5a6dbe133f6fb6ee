"""A worker SIGKILLed in the middle of a batch of webhook deliveries: after a restart every
delivery ends delivered, none is lost, and any repeat the receiver sees carries the same
idempotency key (and the same body)."""

from __future__ import annotations

import signal
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import text

from db.queries.models import get_model
from jobs.events import Slug, emit_model_event
from jobs.runtime import Runtime
from tests.e2e.faults.harness import WorkerPool, wait_for
from tests.receivers import HttpReceiver
from worker.client import LifecycleClient
from worker.settings import Settings

pytestmark = pytest.mark.faults

TEAMS = 200
SECRET = "crash-test-secret"


@pytest.fixture
async def slow_receiver() -> AsyncIterator[HttpReceiver]:
    r = await HttpReceiver(secret=SECRET, delay_seconds=0.3).start()
    yield r
    await r.stop()


async def seed_event(runtime: Runtime) -> uuid.UUID:
    """A model used by ``TEAMS`` teams (one permitted member each) and its event."""
    async with runtime.sessions() as session, session.begin():
        model_id = await session.scalar(
            text(
                "INSERT INTO llm_models (provider, name, display_name, token_limit) "
                "VALUES ('openai', 'crash-src', 'crash-src', 8192) RETURNING id"
            )
        )
        for statement in (
            "INSERT INTO teams (slug, name) "
            "SELECT 'crash-' || g, 'Crash ' || g FROM generate_series(1, :n) g",
            "INSERT INTO users (email, name) "
            "SELECT 'u' || g || '@crash.test', 'U' || g FROM generate_series(1, :n) g",
            "INSERT INTO team_members (team_id, user_id, permissions) "
            "SELECT t.id, u.id, ARRAY['manage_models'] FROM teams t "
            "JOIN users u ON u.email = 'u' || substr(t.slug, 7) || '@crash.test'",
            "INSERT INTO assistants (team_id, name, llm_model_id) SELECT id, 'a', :m FROM teams",
        ):
            await session.execute(text(statement), {"n": TEAMS, "m": model_id})
        teams = (await session.execute(text("SELECT id FROM teams"))).scalars().all()
        model = await get_model(session, model_id)
        assert model is not None
        event_id = await emit_model_event(
            session,
            Slug.DEPRECATED,
            model,
            dedup_key="crash-test",
            payload={str(t): {"assistants": 1} for t in teams},
        )
    assert event_id is not None
    return event_id


async def delivered(runtime: Runtime) -> int:
    async with runtime.engine.connect() as conn:
        n = await conn.scalar(text("SELECT count(*) FROM deliveries WHERE status = 'delivered'"))
    return int(n or 0)


async def test_sigkill_mid_batch_loses_no_delivery(
    e2e_settings: Settings,
    client: LifecycleClient,
    runtime: Runtime,
    worker_pool: Callable[..., WorkerPool],
    slow_receiver: HttpReceiver,
) -> None:
    event_id = await seed_event(runtime)
    pool = worker_pool(
        e2e_settings,
        LIFECYCLE_WEBHOOK_URL=slow_receiver.url("/hooks/crash"),
        LIFECYCLE_WEBHOOK_SECRET=SECRET,
        LIFECYCLE_DELIVERY_TIMEOUT_SECONDS="1",
    )
    first = pool.start()
    await client.enqueue("fanout_event", {"event_id": str(event_id)}, key=str(event_id))

    async def some_accepted() -> bool:
        return len(slow_receiver.accepted) >= 40

    await wait_for(some_accepted, timeout_s=60, what="first deliveries", diagnostics=pool.logs)
    first.signal(signal.SIGKILL)
    assert first.wait(timeout=10) == -signal.SIGKILL
    at_kill = len(slow_receiver.accepted)
    assert at_kill < TEAMS, "the kill must land in the middle of the deliveries"

    pool.start()

    async def all_delivered() -> bool:
        return await delivered(runtime) == TEAMS

    await wait_for(all_delivered, timeout_s=120, what="every delivery", diagnostics=pool.logs)

    async with runtime.engine.connect() as conn:
        teams = set((await conn.execute(text("SELECT id FROM teams"))).scalars())
        statuses = set(
            (await conn.execute(text("SELECT DISTINCT status FROM deliveries"))).scalars()
        )
    assert statuses == {"delivered"}
    expected = {f"{event_id}:{t}" for t in teams}
    assert set(slow_receiver.accepted) == expected, "every team's call arrived"
    for key, bodies in slow_receiver.accepted.items():
        assert len(set(bodies)) == 1, f"a repeat of {key} must carry the same body"
    assert all(c.signature_ok for c in slow_receiver.calls)
    repeats = sum(len(b) for b in slow_receiver.accepted.values()) - TEAMS
    print(
        f"\nSIGKILL mid-delivery: {at_kill} of {TEAMS} accepted at the kill; "
        f"{repeats} repeat(s) seen by the receiver, each with the key and body of its first call"
    )
