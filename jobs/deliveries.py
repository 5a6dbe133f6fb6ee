"""Deliveries: the channels' outbox, written with the notifications and sent by a job.

``write_deliveries`` runs inside each fan-out transaction, so the notifications and the
deliveries of a chunk commit together and a crash between commit and send loses nothing.
``send_deliveries`` claims due rows (``FOR UPDATE SKIP LOCKED``, earliest due first),
sends them concurrently, and records each outcome: delivered, due again after an
exponential backoff with jitter (capped), or failed for good.

The rules that hold for every channel live here, once:
- one deadline (``LIFECYCLE_DELIVERY_TIMEOUT_SECONDS``) for a whole exchange, however
  slowly a receiver answers;
- a claim outlasts any send: a claimed row starts sending within one deadline of its
  claim or is released unsent, and its send ends within the next, so a claim
  (``claim_seconds``) never runs out under a live sender. The rows of a sender that dies
  fall due again when their claim runs out: that repeat is the only way a receiver sees a
  delivery twice, and it carries the same ``Idempotency-Key``;
- a graceful stop (SIGTERM, the job's timeout) lets the sends in flight finish within
  their deadline, releases the rows not yet started and records everything;
- a sender stops claiming while a whole send still fits in its job's time;
- an error is stored, logged and listed scrubbed of every configured secret (and every
  path and query component of a configured URL) and cut short; an unexpected exception
  is a bug, failed at once with a reason that says so;
- a slow receiver holds a slot only briefly (``Channel.park_after_seconds``), and one
  worker runs at most ``SENDER_JOBS`` senders, so the rest of its job slots stay free.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from db.queries.deliveries import (
    ClaimedDelivery,
    Outcome,
    claim_due_deliveries,
    record_outcomes,
    release_claims,
    seconds_until_next_due,
)
from db.queries.recipients import TeamRecipients
from jobs.channels import configured_channels
from jobs.channels.base import (
    Attempt,
    Channel,
    Chunk,
    TeamInfo,
    TeamUsage,
    describe,
    scrub,
)
from jobs.notification_text import EventFacts, Message
from jobs.runtime import Runtime
from jobs.spec import CronSpec, EmptyPayload, JobSpec

log = logging.getLogger("lifecycle.deliveries")

JOB = "send_deliveries"
BATCH_SIZE = 32
# Sends in flight at once, those parked behind a slow receiver included (and as many
# HTTP connections at most).
IN_FLIGHT = 128
# send_deliveries jobs one worker runs at once: a running sender takes every due row, so
# more would only hold job slots that migrations and cleanups need.
SENDER_JOBS = 2
# A web send steps aside once it takes this many times the channel's typical send (and
# at least the channel's park_after_seconds); each answered send weighs this much in it.
SLOW_FACTOR = 4.0
TYPICAL_WEIGHT = 0.1
# How often a sender whose queue ran dry looks again while its sends are in flight, and
# how long an outcome may wait to be stored with others.
RECHECK_SECONDS = 1.0
RECORD_AFTER_SECONDS = 0.25
# Keep going while the next retry is this close; the every-minute cron takes the rest.
LINGER_SECONDS = 30.0
# What a claim holds beyond two deadlines, and the time kept free at the end of a job.
CLAIM_MARGIN_SECONDS = 5.0
QUIET_LOGGERS = ("httpx", "httpcore")
_SENDER_JOBS_KEY = "delivery_sender_jobs"


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt ``n + 1`` after ``n`` failed ones: ``base * 2**(n-1)``,
    capped, with jitter (a uniformly random 50-100 % of it) so retries spread out."""

    base_seconds: float = 5.0
    cap_seconds: float = 3600.0

    def delay(self, attempts: int, rng: random.Random) -> float:
        full = min(self.cap_seconds, self.base_seconds * 2.0 ** max(0, attempts - 1))
        return full / 2 + rng.uniform(0, full / 2)


async def write_deliveries(
    session: AsyncSession,
    runtime: Runtime,
    facts: EventFacts,
    chunk: Sequence[tuple[TeamInfo, Message]],
    recipients: TeamRecipients,
    *,
    event_wide: Sequence[TeamUsage] | None = None,
) -> int:
    """The deliveries of one fan-out chunk, in the caller's transaction, on every
    configured channel, to ``recipients`` (the chunk's, read once); ``event_wide`` given:
    the last chunk. Returns the number written."""
    if not chunk:
        return 0
    seen = Chunk(facts, chunk, recipients, event_wide)
    return sum(
        [await c.write(session, runtime, seen) for c in configured_channels(runtime.settings)]
    )


# A delivery's row status as results and metrics name it (a pending row is retried).
REPORTED_STATUS = {"delivered": "delivered", "pending": "retrying", "failed": "failed"}


def claim_seconds(runtime: Runtime) -> float:
    """How long a claim holds a row: a send starts within one deadline of its claim (or
    the row is released unsent) and ends within the next."""
    return 2 * runtime.settings.delivery_timeout_seconds + CLAIM_MARGIN_SECONDS


class _Slot:
    """A channel slot held by one send, given back once (when the send parks or ends)."""

    def __init__(self, lane: asyncio.Semaphore) -> None:
        self.lane = lane
        self.held = True

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self.lane.release()


class Dispatcher:
    """Sends claimed deliveries over one HTTP client and records what became of them."""

    def __init__(
        self,
        runtime: Runtime,
        http: httpx.AsyncClient,
        *,
        backoff: Backoff,
        rng: random.Random,
        batch_size: int,
    ) -> None:
        # httpx logs every request with its full URL at INFO, and webhook URLs (Slack's
        # above all) carry tokens in their path: keep those loggers to warnings.
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        self.runtime = runtime
        self.http = http
        self.backoff = backoff
        self.rng = rng
        self.batch_size = batch_size
        self.deadline = runtime.settings.delivery_timeout_seconds
        self.channels = {c.name: c for c in configured_channels(runtime.settings)}
        self.secrets = [s for c in self.channels.values() for s in c.secrets()]
        self.lanes = {c.name: asyncio.Semaphore(c.slots) for c in self.channels.values()}
        self.in_flight = asyncio.Semaphore(IN_FLIGHT)
        self.tasks: set[asyncio.Task[None]] = set()
        self.waiting = 0  # claimed rows not yet sending
        self.changed = asyncio.Event()
        self.stopping = False
        self.finished: list[Outcome] = []
        self.released: list[ClaimedDelivery] = []
        self.tally: Counter[str] = Counter()
        self.typical: dict[str, float] = {}  # channel name: seconds of a typical send
        self.first_finished_at = math.inf  # when the oldest outcome not yet stored came

    def spawn(self, claimed: list[ClaimedDelivery]) -> None:
        latest_start = time.monotonic() + self.deadline
        for d in claimed:
            self.waiting += 1
            task = asyncio.create_task(self.attempt(d, latest_start))
            self.tasks.add(task)
            task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.changed.set()

    async def changes(self, at_most: float) -> None:
        """Wait until a send starts or ends (at most ``at_most`` seconds)."""
        self.changed.clear()
        try:
            async with asyncio.timeout(at_most):
                await self.changed.wait()
        except TimeoutError:
            pass

    async def _start(self, lane: asyncio.Semaphore, latest_start: float) -> _Slot | None:
        """A channel slot and a place in flight, or ``None`` (stopping, or too late to
        finish within the claim: the row is released unsent)."""
        try:
            async with asyncio.timeout(max(0.0, latest_start - time.monotonic())):
                await lane.acquire()
                slot = _Slot(lane)
                try:
                    await self.in_flight.acquire()
                except BaseException:
                    slot.give_back()
                    raise
        except TimeoutError:
            return None
        finally:
            self.waiting -= 1
            self.changed.set()
        if self.stopping:
            slot.give_back()
            self.in_flight.release()
            return None
        return slot

    async def attempt(self, d: ClaimedDelivery, latest_start: float) -> None:
        channel = self.channels.get(d.channel)
        if channel is None:
            self.waiting -= 1
            reason = f"channel {d.channel!r} is not configured in this worker"
            self.done(d.channel, self.outcome(d, Attempt("failed", reason)))
            return
        slot = await self._start(self.lanes[channel.name], latest_start)
        if slot is None:
            self.released.append(d)
            self.first_finished_at = min(self.first_finished_at, time.monotonic())
            return
        parked = None
        slow_after = self.slow_after(channel)
        if slow_after is not None:
            parked = asyncio.get_running_loop().call_later(slow_after, slot.give_back)
        began = time.monotonic()
        try:
            result = await self.exchange(channel, d)
        finally:
            if parked is not None:
                parked.cancel()
            slot.give_back()
            self.in_flight.release()
        self.learn(channel, time.monotonic() - began)
        self.done(d.channel, self.outcome(d, result))

    def done(self, channel: str, outcome: Outcome) -> None:
        self.runtime.observer.delivery_done(channel, REPORTED_STATUS[outcome.status])
        self.finished.append(outcome)
        self.first_finished_at = min(self.first_finished_at, time.monotonic())

    def slow_after(self, channel: Channel) -> float | None:
        """When a send of ``channel`` steps aside: after its ``park_after_seconds``, or
        ``SLOW_FACTOR`` times its recent typical send if longer. Tracking the typical send
        keeps a loaded machine, where every answer is slower, from parking them all (more
        requests in flight on one HTTP client only make each slower)."""
        if channel.park_after_seconds is None:
            return None
        typical = self.typical.get(channel.name, 0.0)
        return max(channel.park_after_seconds, SLOW_FACTOR * typical)

    def learn(self, channel: Channel, seconds: float) -> None:
        """Fold a send that ended before the deadline into ``channel``'s typical send (an
        exponential moving average)."""
        if seconds < self.deadline:
            before = self.typical.get(channel.name, seconds)
            self.typical[channel.name] = before + (seconds - before) * TYPICAL_WEIGHT

    async def exchange(self, channel: Channel, d: ClaimedDelivery) -> Attempt:
        """One send, bounded by the deadline as a whole (a per-read timeout would let a
        receiver that drips its answer hold the send for ever)."""
        try:
            async with asyncio.timeout(self.deadline):
                return await channel.send(d, self.http)
        except TimeoutError:
            return Attempt("retry", f"timeout: no complete answer within {self.deadline:g}s")
        except Exception as exc:  # a bug: retrying would repeat it
            return Attempt("failed", f"internal error, not retried (a bug): {describe(exc)}")

    def outcome(self, d: ClaimedDelivery, result: Attempt) -> Outcome:
        """What ``d``'s row becomes after ``result``."""
        error = scrub(result.error, self.secrets) if result.error else None
        if result.verdict == "delivered":
            return Outcome(d.id, d.attempts, "delivered")
        max_attempts = self.runtime.settings.delivery_max_attempts
        if result.verdict == "retry" and d.attempts < max_attempts:
            delay = self.backoff.delay(d.attempts, self.rng)
            if result.retry_after_seconds is not None:
                delay = max(delay, min(result.retry_after_seconds, self.backoff.cap_seconds))
            log.warning(
                "delivery %s (%s, attempt %d) will be retried in %.1fs: %s",
                d.id,
                d.channel,
                d.attempts,
                delay,
                error,
            )
            return Outcome(d.id, d.attempts, "pending", error, delay)
        if result.verdict == "retry":
            error = scrub(f"gave up after {d.attempts} attempts: {error}", ())
        log.error("delivery %s (%s) failed: %s", d.id, d.channel, error)
        return Outcome(d.id, d.attempts, "failed", error)

    def record_due(self) -> bool:
        """Whether to store the outcomes now: a batch of them, the oldest waiting
        ``RECORD_AFTER_SECONDS``, or no send left in flight."""
        if not self.finished and not self.released:
            return False
        waited = time.monotonic() - self.first_finished_at
        full = len(self.finished) >= self.batch_size
        return full or waited >= RECORD_AFTER_SECONDS or not self.tasks

    async def record(self) -> None:
        """Store the outcomes so far and give back the rows released unsent."""
        self.first_finished_at = math.inf
        finished, self.finished = self.finished, []
        released, self.released = self.released, []
        if not finished and not released:
            return
        async with self.runtime.sessions() as session, session.begin():
            await record_outcomes(session, finished)
            await release_claims(session, [(d.id, d.attempts) for d in released])
        self.tally.update(o.status for o in finished)
        self.tally["released"] += len(released)

    async def drain(self) -> None:
        """Wait for every send (each ends within its deadline) and record them all."""
        while self.tasks:
            await asyncio.wait(set(self.tasks))
        await self.record()

    async def run(self, *, linger_seconds: float, stop_claiming_at: float) -> None:
        try:
            await self._loop(linger_seconds, stop_claiming_at)
            await self.drain()
        except asyncio.CancelledError:
            # A graceful stop: sends in flight finish, rows not yet sending are released.
            self.stopping = True
            await self.drain()
            log.warning("sender stopped: sends in flight finished, the rest released")
            raise

    async def claim(self) -> list[ClaimedDelivery]:
        async with self.runtime.sessions() as session, session.begin():
            return await claim_due_deliveries(
                session, limit=self.batch_size, claim_seconds=claim_seconds(self.runtime)
            )

    async def _loop(self, linger_seconds: float, stop_claiming_at: float) -> None:
        # After a short claim (the queue is drained) the next one waits RECHECK_SECONDS
        # while sends are in flight, rather than running after every send's end.
        recheck_at = 0.0
        while time.monotonic() < stop_claiming_at:
            if self.waiting < self.batch_size and time.monotonic() >= recheck_at:
                claimed = await self.claim()
                self.spawn(claimed)
                if len(claimed) < self.batch_size:
                    recheck_at = time.monotonic() + RECHECK_SECONDS
            if self.record_due():
                await self.record()
            if self.tasks:
                now = time.monotonic()
                until_recheck = recheck_at - now if recheck_at > now else self.deadline
                until_record = self.first_finished_at + RECORD_AFTER_SECONDS - now
                await self.changes(max(0.01, min(until_recheck, until_record)))
                continue
            if time.monotonic() >= recheck_at:
                continue  # the last claim was a full batch: there may be more
            async with self.runtime.sessions() as session:
                wait = await seconds_until_next_due(session)
            if wait is None or wait > linger_seconds:
                return
            await asyncio.sleep(max(wait, 0.02))
            recheck_at = 0.0


def sender_jobs(runtime: Runtime) -> asyncio.Semaphore:
    """This worker's sender slots (``SENDER_JOBS``), shared by its jobs."""
    slots = runtime.extras.setdefault(_SENDER_JOBS_KEY, asyncio.Semaphore(SENDER_JOBS))
    assert isinstance(slots, asyncio.Semaphore)
    return slots


async def send_deliveries(
    runtime: Runtime,
    payload: EmptyPayload,
    *,
    backoff: Backoff | None = None,
    linger_seconds: float = LINGER_SECONDS,
    batch_size: int = BATCH_SIZE,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """Send every due delivery, and those falling due within ``linger_seconds``, while
    the job has time left for a whole send."""
    started = time.monotonic()
    slots = sender_jobs(runtime)
    if slots.locked():
        log.info("deliveries: %d senders already run in this worker; they send these", SENDER_JOBS)
        return {"delivered": 0, "retrying": 0, "failed": 0, "busy": True}
    stop_claiming_at = (
        started
        + runtime.settings.job_timeout_seconds
        - claim_seconds(runtime)
        - CLAIM_MARGIN_SECONDS
    )
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=BATCH_SIZE)
    timeout = httpx.Timeout(runtime.settings.delivery_timeout_seconds)
    async with slots, httpx.AsyncClient(timeout=timeout, limits=limits) as http:
        dispatcher = Dispatcher(
            runtime,
            http,
            backoff=backoff or Backoff(),
            rng=rng or random.Random(),
            batch_size=batch_size,
        )
        await dispatcher.run(linger_seconds=linger_seconds, stop_claiming_at=stop_claiming_at)
    tally = dispatcher.tally
    if tally:
        log.info(
            "deliveries: %d delivered, %d to retry, %d failed, %d released unsent",
            tally["delivered"],
            tally["pending"],
            tally["failed"],
            tally["released"],
        )
    return {
        "delivered": tally["delivered"],
        "retrying": tally["pending"],
        "failed": tally["failed"],
    }


async def publish_deliveries(runtime: Runtime, event_id: uuid.UUID) -> None:
    """Queue a sender after a fan-out that wrote deliveries has committed (the cron
    sender picks them up anyway should this enqueue be lost)."""
    await runtime.enqueue(JOB, {}, f"event-{event_id}")


JOBS = (JobSpec(JOB, EmptyPayload, send_deliveries),)
CRONS = (CronSpec(JOB, lambda settings: {"second": 30}),)
