"""Deliveries against real receivers on loopback: a signed webhook that fails, times out
and refuses; Slack; email through a real SMTP server; fairness; secrets."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text

from db.queries.models import get_model
from jobs.deliveries import Backoff, send_deliveries
from jobs.events import Slug, emit_model_event
from jobs.notifications import FanoutPayload, fanout_event
from jobs.runtime import Runtime
from jobs.spec import EmptyPayload
from tests.e2e.conftest import run_cli
from tests.factories import Factory
from tests.receivers import SECRET, HttpReceiver, SmtpReceiver
from worker.settings import Settings

MakeRuntime = Callable[..., Awaitable[Runtime]]
FAST = Backoff(base_seconds=0.01, cap_seconds=0.05)


async def fleet(factory: Factory, teams: int, *, recent_questions: int = 0) -> dict[str, Any]:
    """A model used by ``teams`` teams, each with two members allowed to manage models
    and one who is not; the first team asked questions on it recently."""
    model = await factory.model("gpt-4-0613")
    successor = await factory.model("gpt-4o")
    ids, permitted = [], {}
    for n in range(teams):
        team = await factory.team(f"team-{n}")
        ids.append(team)
        permitted[team] = set()
        for u in range(2):
            email = f"m{u}@team-{n}.test"
            await factory.member(team, await factory.user(email))
            permitted[team].add(email)
        await factory.member(team, await factory.user(f"viewer@team-{n}.test"), ["read"])
        await factory.assistant(team, model)
    for _ in range(recent_questions):
        await factory.question(ids[0], model)
    await factory.question(ids[0], model, created_at=date(2020, 1, 1))  # long ago: not counted
    return {"model": model, "successor": successor, "teams": ids, "permitted": permitted}


async def announce(runtime: Runtime, f: dict[str, Any], *, suggested: bool = False) -> uuid.UUID:
    """A retiring event for every team of ``f``, fanned out (deliveries written)."""
    async with runtime.sessions() as session, session.begin():
        model = await get_model(session, f["model"])
        assert model is not None
        event_id = await emit_model_event(
            session,
            Slug.RETIRING,
            model,
            dedup_key=f"test:{uuid.uuid4()}",
            payload={str(t): {"assistants": 1} for t in f["teams"]},
            deprecation_date=date(2027, 3, 1),
        )
        assert event_id is not None
        if suggested:
            await session.execute(
                text(
                    "UPDATE lifecycle_events SET suggested_provider = 'openai', "
                    "suggested_model_name = 'gpt-4o' WHERE id = :id"
                ),
                {"id": event_id},
            )
    await fanout_event(runtime, FanoutPayload(event_id=event_id))
    return event_id


async def deliveries(runtime: Runtime) -> list[Any]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT id, event_id, channel, team_id, user_id, target, status, attempts, "
                "last_error, delivered_at FROM deliveries ORDER BY channel, team_id, target"
            )
        )
        return list(rows)


async def test_webhook_retries_then_delivers_each_key_once_and_refusal_fails_at_once(
    make_runtime: MakeRuntime, factory: Factory, receiver: HttpReceiver
) -> None:
    f = await fleet(factory, 4, recent_questions=3)
    a, b, refusing, slow = f["teams"]
    rt = await make_runtime(
        webhook_url=receiver.url("/hooks/t0ken-in-path"),
        webhook_secret=SECRET,
        delivery_timeout_seconds=2,
    )
    receiver.hang_seconds = 4
    event_id = await announce(rt, f)

    def rule(key: str, seen: int) -> int | str | None:
        team = uuid.UUID(key.split(":")[1])
        if team == a and seen < 2:
            return 503
        if team == b and seen < 1:
            return 503
        if team == refusing:
            return 400
        if team == slow and seen < 1:
            return "hang"
        return None

    receiver.rule = rule
    report = await send_deliveries(rt, EmptyPayload(), backoff=FAST, linger_seconds=5)

    rows = {r.team_id: r for r in await deliveries(rt)}
    # Attempts the receiver answered; on a loaded machine a client-side timeout may add
    # an attempt the receiver never saw, so attempts are at least these.
    assert {t: r.status for t, r in rows.items()} == {
        a: "delivered",
        b: "delivered",
        refusing: "failed",
        slow: "delivered",
    }
    assert rows[a].attempts >= 3 and rows[b].attempts >= 2 and rows[slow].attempts >= 2
    assert rows[refusing].last_error.startswith("HTTP 400")
    assert rows[slow].last_error.startswith("timeout")
    assert rows[a].last_error is not None
    assert report["delivered"] == 3 and report["failed"] == 1  # retries counted as they happen
    # Every call was signed correctly and carried the same key on every retry.
    assert all(c.signature_ok for c in receiver.calls)
    keys = {f"{event_id}:{t}" for t in (a, b, slow)}
    assert receiver.accepted_counts() == {k: 1 for k in keys}
    assert receiver.seen(f"{event_id}:{refusing}") == 1
    # The target shows the host only, never the path that holds a token.
    assert {r.target for r in rows.values()} == {f"http://127.0.0.1:{receiver.port}"}

    body = next(b for b in receiver.bodies() if b["team"]["id"] == str(a))
    assert {
        "event_id",
        "slug",
        "team",
        "model",
        "replacement",
        "deprecation_date",
        "counts",
        "recipients",
    } <= set(body)
    assert body["event_id"] == str(event_id) and body["slug"] == "llm-model-retiring"
    assert body["team"]["slug"] == "team-0" and body["counts"] == {"assistants": 1}
    assert body["deprecation_date"] == "2027-03-01"
    assert sorted(r["email"] for r in body["recipients"]) == sorted(f["permitted"][a])
    assert body["recent_history"] == {"questions": 3}
    assert "3 questions in the last 30 days" in body["body"]

    calls = len(receiver.calls)
    again = await send_deliveries(rt, EmptyPayload(), backoff=FAST, linger_seconds=0)
    assert again == {"delivered": 0, "retrying": 0, "failed": 0}
    assert len(receiver.calls) == calls, "a delivered (or failed) delivery is never sent again"


async def test_retries_stop_after_the_maximum_and_are_recorded(
    make_runtime: MakeRuntime, factory: Factory, receiver: HttpReceiver
) -> None:
    f = await fleet(factory, 1)
    rt = await make_runtime(
        webhook_url=receiver.url(), webhook_secret=SECRET, delivery_max_attempts=3
    )
    await announce(rt, f)
    receiver.rule = lambda key, seen: 502

    await send_deliveries(rt, EmptyPayload(), backoff=FAST, linger_seconds=5)

    (row,) = await deliveries(rt)
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.last_error.startswith("gave up after 3 attempts: HTTP 502")


async def test_failing_deliveries_never_starve_newer_ones(
    make_runtime: MakeRuntime, factory: Factory, receiver: HttpReceiver
) -> None:
    stuck = await fleet(factory, 10)
    rt = await make_runtime(
        webhook_url=receiver.url(), webhook_secret=SECRET, delivery_max_attempts=20
    )
    await announce(rt, stuck)
    stuck_keys = {c.key for c in receiver.calls}
    receiver.rule = lambda key, seen: None if key.endswith(str(newcomer)) else 503
    newcomer = await factory.team("newcomer")
    await factory.member(newcomer)
    await factory.assistant(newcomer, stuck["model"])
    await announce(rt, {**stuck, "teams": [newcomer]})
    assert not stuck_keys

    await send_deliveries(rt, EmptyPayload(), backoff=FAST, linger_seconds=5, batch_size=4)

    # Ten older rows keep failing, yet the newer one went out within the first three
    # batches (oldest-created-first would have sent it after all 10 x 20 attempts).
    first_ok = next(i for i, c in enumerate(receiver.calls) if c.status == 200)
    assert first_ok < 12
    statuses = [r.status for r in await deliveries(rt)]
    assert sorted(statuses) == ["delivered"] + ["failed"] * 10


async def test_slack_gets_one_readable_message_per_event(
    make_runtime: MakeRuntime, factory: Factory, receiver: HttpReceiver
) -> None:
    f = await fleet(factory, 3, recent_questions=412)
    receiver.secret = ""  # Slack calls are not signed
    rt = await make_runtime(slack_webhook_url=receiver.url("/services/T0/B0/xoxsecret"))
    await announce(rt, f, suggested=True)

    await send_deliveries(rt, EmptyPayload(), backoff=FAST, linger_seconds=0)

    (row,) = await deliveries(rt)
    assert (row.channel, row.status, row.team_id) == ("slack", "delivered", None)
    assert "xoxsecret" not in row.target
    (message,) = receiver.bodies()
    text_ = message["text"]
    assert "openai:gpt-4-0613 will be retired on 2027-03-01" in text_
    assert "Suggested successor (litellm, not applied): `openai:gpt-4o`" in text_
    assert "Teams affected: 3" in text_
    assert "team-0: 1 assistant; 412 questions in the last 30 days" in text_


async def test_email_one_per_permitted_member_plain_text_and_html(
    make_runtime: MakeRuntime, factory: Factory, smtp: SmtpReceiver
) -> None:
    f = await fleet(factory, 3)
    rt = await make_runtime(smtp_url=smtp.url, email_from="Lifecycle <lifecycle@platform.test>")
    await announce(rt, f, suggested=True)

    await send_deliveries(rt, EmptyPayload(), backoff=FAST, linger_seconds=0)

    expected = sorted(e for emails in f["permitted"].values() for e in emails)
    assert sorted(rcpt for rcpts, _ in smtp.messages for rcpt in rcpts) == expected
    assert all(r.status == "delivered" for r in await deliveries(rt))
    async with rt.engine.connect() as conn:
        bodies = set((await conn.execute(text("SELECT body FROM notifications"))).scalars())
    for rcpts, msg in smtp.messages:
        assert msg["From"] == "Lifecycle <lifecycle@platform.test>"
        assert msg["To"] == rcpts[0]
        assert msg["Subject"] == "openai:gpt-4-0613 will be retired on 2027-03-01"
        plain = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        assert plain is not None and html is not None
        assert plain.get_content().strip() in bodies  # the same text as in the app
        assert "litellm suggests openai:gpt-4o" in html.get_content()
    assert len({msg["Message-ID"] for _, msg in smtp.messages}) == len(expected)


async def test_secrets_never_appear_in_logs_errors_or_json(
    make_runtime: MakeRuntime,
    factory: Factory,
    receiver: HttpReceiver,
    caplog: pytest.LogCaptureFixture,
    test_settings: Callable[..., Settings],
) -> None:
    f = await fleet(factory, 1)
    password = "sm7p-pa55word"
    closed = f"smtp://mailer:{password}@127.0.0.1:{receiver.port + 0}"  # HTTP, not SMTP
    rt = await make_runtime(
        webhook_url=receiver.url("/hooks/path-t0ken"),
        webhook_secret=SECRET,
        smtp_url=closed,
        delivery_max_attempts=1,
        delivery_timeout_seconds=1,
    )
    await announce(rt, f)
    receiver.rule = lambda key, seen: 500
    caplog.set_level(logging.DEBUG)

    report = await send_deliveries(rt, EmptyPayload(), backoff=FAST, linger_seconds=0)

    assert report["failed"] == 3  # one webhook, two emails
    listing = run_cli(
        test_settings(),
        "notifications",
        "--failed",
        "--json",
        LIFECYCLE_WEBHOOK_URL=receiver.url("/hooks/path-t0ken"),
        LIFECYCLE_WEBHOOK_SECRET=SECRET,
        LIFECYCLE_SMTP_URL=closed,
    )
    assert listing.returncode == 0, listing.stderr
    printed = listing.stdout + listing.stderr
    listed = json.loads(listing.stdout)["deliveries"]
    assert len(listed) == 3 and all(d["last_error"] for d in listed)
    errors = " ".join(r.last_error for r in await deliveries(rt))
    for secret in (SECRET, password, "path-t0ken"):
        assert secret not in caplog.text
        assert secret not in printed
        assert secret not in errors
        assert secret not in json.dumps(report)


async def test_cli_retry_requeues_failed_deliveries_only(
    make_runtime: MakeRuntime,
    factory: Factory,
    receiver: HttpReceiver,
    test_settings: Callable[..., Settings],
) -> None:
    f = await fleet(factory, 2)
    rt = await make_runtime(webhook_url=receiver.url(), webhook_secret=SECRET)
    await announce(rt, f)
    refused = f["teams"][0]
    receiver.rule = lambda key, seen: 410 if key.endswith(str(refused)) else None
    await send_deliveries(rt, EmptyPayload(), backoff=FAST, linger_seconds=0)
    rows = {r.team_id: r for r in await deliveries(rt)}
    failed, delivered = rows[refused], rows[f["teams"][1]]
    assert (failed.status, delivered.status) == ("failed", "delivered")
    env = {"LIFECYCLE_WEBHOOK_URL": receiver.url(), "LIFECYCLE_WEBHOOK_SECRET": SECRET}

    retry = ("notifications", "retry", str(failed.id), str(delivered.id))
    out = run_cli(test_settings(), *retry, **env)

    assert out.returncode == 1, out.stderr  # the delivered one is not failed: said, not retried
    assert "1 failed delivery(ies) queued again" in out.stdout
    assert str(delivered.id) in out.stdout
    rows = {r.team_id: r for r in await deliveries(rt)}
    assert (rows[refused].status, rows[refused].attempts) == ("pending", 0)
    receiver.rule = lambda key, seen: None
    await send_deliveries(rt, EmptyPayload(), backoff=FAST, linger_seconds=0)
    assert {r.status for r in await deliveries(rt)} == {"delivered"}
    assert receiver.accepted_counts()[f"{failed.event_id}:{refused}"] == 1
    assert run_cli(test_settings(), "notifications", "--failed", **env).stdout.strip() == (
        "no failed deliveries"
    )
