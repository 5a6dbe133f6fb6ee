"""Deliveries on a real worker subprocess against receivers on loopback (issue 20): a
sender ends before its job's timeout, a graceful stop finishes or releases what it
claimed, and hanging receivers leave the worker's other job slots free."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text

from jobs.deliveries import JOB, SENDER_JOBS, Backoff, send_deliveries
from jobs.runtime import Runtime
from jobs.spec import EmptyPayload
from tests.factories import Factory
from tests.receivers import SECRET, HttpReceiver, webhook_rows
from worker.client import LifecycleClient

StartWorker = Callable[..., subprocess.Popen[str]]


def webhook_env(receiver: HttpReceiver, **extra: str) -> dict[str, str]:
    return {
        "LIFECYCLE_WEBHOOK_URL": receiver.url(),
        "LIFECYCLE_WEBHOOK_SECRET": SECRET,
        **extra,
    }


async def rows(runtime: Runtime) -> list[Any]:
    async with runtime.engine.connect() as conn:
        result = await conn.execute(
            text("SELECT event_id, team_id, status, attempts FROM deliveries ORDER BY id")
        )
        return list(result)


async def until(condition: Callable[[], bool], *, within: float = 60) -> None:
    """Poll ``condition`` (state in another process or thread: no event to wait on)."""
    async with asyncio.timeout(within):
        while True:
            if condition():
                return
            await asyncio.sleep(0.05)


async def test_a_sender_ends_by_itself_before_its_job_timeout(
    runtime: Runtime, client: LifecycleClient, worker_process: StartWorker
) -> None:
    receiver = await HttpReceiver(secret=SECRET, hang_seconds=3).start()
    try:
        receiver.rule = lambda key, seen: "hang"  # every send times out and is retried
        await webhook_rows(runtime, 20)
        env = webhook_env(
            receiver,
            LIFECYCLE_JOB_TIMEOUT_SECONDS="12",
            LIFECYCLE_DELIVERY_TIMEOUT_SECONDS="0.5",
        )
        worker_process(**env)

        handle = await client.enqueue(JOB, {}, key=f"budget-{uuid.uuid4()}")
        # Retries fall due again and again: only the job's own budget ends it (arq's
        # timeout would fail the job, and leave its sends unrecorded).
        report = await client.result(handle.job_id, timeout_s=60)

        assert report["retrying"] >= 20 and report["delivered"] == 0
        for row in await rows(runtime):  # every POST is a counted attempt, recorded
            assert row.status == "pending"
            assert row.attempts == receiver.seen(f"{row.event_id}:{row.team_id}")
    finally:
        await receiver.stop()


async def test_sigterm_mid_batch_finishes_or_releases_every_claimed_delivery(
    runtime: Runtime,
    client: LifecycleClient,
    worker_process: StartWorker,
    make_runtime: Callable[..., Awaitable[Runtime]],
) -> None:
    receiver = await HttpReceiver(secret=SECRET, delay_seconds=1.0).start()
    try:
        await webhook_rows(runtime, 300)
        env = webhook_env(receiver, LIFECYCLE_DELIVERY_TIMEOUT_SECONDS="3")
        proc = worker_process(**env)
        await client.enqueue(JOB, {}, key=f"sigterm-{uuid.uuid4()}")
        await until(lambda: len(receiver.calls) >= 40)

        proc.send_signal(signal.SIGTERM)
        await until(lambda: proc.poll() is not None, within=30)

        accepted = receiver.accepted_counts()
        assert max(accepted.values()) == 1
        states = {(r.status, r.attempts) for r in await rows(runtime)}
        # Sent ones are recorded; the rest are free to send now, their attempt not counted.
        assert states <= {("delivered", 1), ("pending", 0)}
        assert ("delivered", 1) in states and ("pending", 0) in states
        delivered = [r for r in await rows(runtime) if r.status == "delivered"]
        assert len(delivered) == len(accepted)

        rest = await make_runtime(webhook_url=receiver.url(), webhook_secret=SECRET)
        await send_deliveries(rest, EmptyPayload(), backoff=Backoff(), linger_seconds=0)
        assert {r.status for r in await rows(runtime)} == {"delivered"}
        assert len(receiver.calls) == 300, "no delivery was POSTed twice"
    finally:
        await receiver.stop()


async def test_hanging_receivers_leave_job_slots_for_a_migration(
    runtime: Runtime,
    factory: Factory,
    client: LifecycleClient,
    worker_process: StartWorker,
) -> None:
    team = await factory.team()
    old, new = await factory.model("slots-old"), await factory.model("slots-new")
    await factory.assistant(team, old)
    receiver = await HttpReceiver(secret=SECRET, hang_seconds=30).start()
    try:
        receiver.rule = lambda key, seen: "hang"
        await webhook_rows(runtime, 40)
        worker_process(**webhook_env(receiver, LIFECYCLE_DELIVERY_TIMEOUT_SECONDS="5"))
        # More senders than the worker has job slots (10), every one of them lingering
        # while its retries fall due.
        senders = [
            await client.enqueue(JOB, {}, key=f"slots-{n}-{uuid.uuid4()}") for n in range(12)
        ]
        await until(lambda: len(receiver.calls) >= 8)

        handle = await client.migrate_model(
            str(old), str(new), requested_by="e2e", request_key=f"slots-{uuid.uuid4()}"
        )
        result = await client.result(handle.job_id, timeout_s=60)

        assert result["status"] == "succeeded"
        assert all(call.ended == 0.0 for call in receiver.calls[-1:])  # still hanging
        busy = 0
        for sender in senders:
            state = await client.status(sender.job_id)
            if state.status == "complete":
                busy += bool(state.result and state.result.get("busy"))
        assert busy >= len(senders) - SENDER_JOBS
    finally:
        await receiver.stop()
