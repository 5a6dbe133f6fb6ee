"""Deliveries against hostile and broken receivers on loopback (issue 20): secrets echoed
back, answers dripped or endless, permanent answers with odd headers, tenant text aimed
at Slack, an SMTP server that would take a password in clear; and receivers verifying us
with the libraries they already have."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import standardwebhooks
import stripe
from sqlalchemy import text

from jobs.channels.base import MAX_ERROR_CHARS
from jobs.channels.email import PLAINTEXT_OPT_OUT
from jobs.channels.webhook import standard_webhooks_secret
from jobs.deliveries import Backoff, send_deliveries
from jobs.runtime import Runtime
from jobs.spec import EmptyPayload
from tests.e2e.conftest import run_cli
from tests.factories import Factory
from tests.integration.test_deliveries import FAST, announce, deliveries, fleet
from tests.receivers import SECRET, HttpReceiver, SmtpReceiver, webhook_rows
from worker.settings import Settings

MakeRuntime = Callable[..., Awaitable[Runtime]]


async def send_one(runtime: Runtime, *, linger_seconds: float) -> Any:
    """Run a sender, then the one delivery row there is."""
    await send_deliveries(runtime, EmptyPayload(), backoff=FAST, linger_seconds=linger_seconds)
    (row,) = await deliveries(runtime)
    return row


async def test_secrets_echoed_by_a_receiver_never_reach_rows_logs_or_the_cli(
    make_runtime: MakeRuntime,
    factory: Factory,
    receiver: HttpReceiver,
    caplog: pytest.LogCaptureFixture,
    test_settings: Callable[..., Settings],
) -> None:
    f = await fleet(factory, 1)
    hook = receiver.url("/hooks/wh-path-t0ken?token=q-s3cret&team=7")
    slack = receiver.url("/services/T000/B000/xoxb-sl4ck-t0ken")
    env = {
        "LIFECYCLE_WEBHOOK_URL": hook,
        "LIFECYCLE_WEBHOOK_SECRET": SECRET,
        "LIFECYCLE_SLACK_WEBHOOK_URL": slack,
    }
    rt = await make_runtime(
        webhook_url=hook, webhook_secret=SECRET, slack_webhook_url=slack, delivery_max_attempts=1
    )
    await announce(rt, f)
    receiver.rule = lambda key, seen: "echo"  # "Cannot POST <path and query>"
    caplog.set_level(logging.DEBUG)

    await send_deliveries(rt, EmptyPayload(), backoff=FAST, linger_seconds=0)

    rows = await deliveries(rt)
    assert {r.status for r in rows} == {"failed"} and len(rows) == 2
    assert all(r.last_error.startswith("HTTP 404: Cannot POST ***") for r in rows)
    text_out = run_cli(test_settings(), "notifications", "--failed", **env)
    json_out = run_cli(test_settings(), "notifications", "--failed", "--json", **env)
    assert text_out.returncode == json_out.returncode == 0, text_out.stderr + json_out.stderr
    listed = json.loads(json_out.stdout)["deliveries"]
    assert {d["channel"] for d in listed} == {"webhook", "slack"}
    seen = [caplog.text, text_out.stdout, json_out.stdout, *(r.last_error for r in rows)]
    for secret in ("wh-path-t0ken", "q-s3cret", "xoxb-sl4ck-t0ken", "T000/B000", SECRET):
        for place in seen:
            assert secret not in place
    assert all(len(r.last_error) <= MAX_ERROR_CHARS for r in rows)


async def test_an_answer_dripped_past_the_deadline_is_cut_and_never_sent_twice_at_once(
    make_runtime: MakeRuntime, receiver: HttpReceiver
) -> None:
    rt = await make_runtime(
        webhook_url=receiver.url(),
        webhook_secret=SECRET,
        delivery_timeout_seconds=1,
        delivery_max_attempts=2,
    )
    await webhook_rows(rt, 1)
    receiver.hang_seconds = 8  # 200 at once, then a byte every 0.1 s for 8 s
    receiver.rule = lambda key, seen: "drip"
    backoff = Backoff(base_seconds=2, cap_seconds=2)

    # Two senders side by side: the second lingers until the row falls due again.
    await asyncio.gather(
        send_deliveries(rt, EmptyPayload(), backoff=backoff, linger_seconds=20),
        send_deliveries(rt, EmptyPayload(), backoff=backoff, linger_seconds=20),
    )

    (row,) = await deliveries(rt)
    assert (row.status, row.attempts) == ("failed", 2)
    assert row.last_error == "gave up after 2 attempts: timeout: no complete answer within 1s"
    calls = sorted(receiver.calls, key=lambda c: c.started)
    assert len(calls) == 2
    assert calls[1].started >= calls[0].ended, "a second POST while the first still ran"


async def test_a_huge_answer_is_read_only_a_few_kib_deep(
    make_runtime: MakeRuntime, receiver: HttpReceiver
) -> None:
    rt = await make_runtime(
        webhook_url=receiver.url(), webhook_secret=SECRET, delivery_max_attempts=1
    )
    await webhook_rows(rt, 1)
    receiver.rule = lambda key, seen: "huge"  # 503 and 64 MiB of body

    row = await send_one(rt, linger_seconds=0)
    assert row.status == "failed" and row.last_error.startswith(
        "gave up after 1 attempts: HTTP 503: xxx"
    )
    assert len(row.last_error) <= MAX_ERROR_CHARS
    # The sender hung up long before the end: only what socket buffers hold got out.
    assert receiver.streamed < receiver.huge_bytes // 4


async def test_a_permanent_answer_with_an_http_date_fails_at_once(
    make_runtime: MakeRuntime, receiver: HttpReceiver
) -> None:
    rt = await make_runtime(webhook_url=receiver.url(), webhook_secret=SECRET)
    await webhook_rows(rt, 1)
    receiver.rule = lambda key, seen: 410
    receiver.answer_headers = {"Retry-After": "Wed, 21 Oct 2015 07:28:00 -0000"}

    row = await send_one(rt, linger_seconds=5)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error.startswith("HTTP 410")


async def test_a_delivery_the_worker_cannot_handle_fails_at_once_as_a_bug(
    make_runtime: MakeRuntime, receiver: HttpReceiver, smtp: SmtpReceiver
) -> None:
    rt = await make_runtime(smtp_url=smtp.url)
    event_id = await webhook_rows(rt, 0)
    async with rt.engine.begin() as conn:  # a row no version of the worker writes
        await conn.execute(
            text(
                "INSERT INTO deliveries (event_id, channel, target, payload) "
                "VALUES (:e, 'email', 'a@b.test', CAST('\"not an object\"' AS jsonb))"
            ),
            {"e": event_id},
        )

    row = await send_one(rt, linger_seconds=5)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error.startswith("internal error, not retried (a bug): AttributeError")
    assert smtp.messages == []


async def test_a_model_name_with_cr_lf_is_mailed_on_one_line(
    make_runtime: MakeRuntime, factory: Factory, smtp: SmtpReceiver
) -> None:
    team = await factory.team()
    await factory.member(team, await factory.user("boss@team.test"))
    model = await factory.model("gpt\r\nBcc: victim@evil.test")
    await factory.assistant(team, model)
    rt = await make_runtime(smtp_url=smtp.url)
    await announce(rt, {"model": model, "teams": [team]})

    row = await send_one(rt, linger_seconds=5)
    assert (row.status, row.attempts) == ("delivered", 1)
    ((rcpts, msg),) = smtp.messages
    assert rcpts == ["boss@team.test"] and msg["Bcc"] is None
    assert msg["Subject"] == "openai:gpt Bcc: victim@evil.test will be retired on 2027-03-01"


async def test_tenant_text_cannot_mention_or_link_in_slack(
    make_runtime: MakeRuntime, factory: Factory, receiver: HttpReceiver
) -> None:
    team = await factory.team("<https://evil.example/login|Re-authenticate here>")
    await factory.member(team)
    model = await factory.model("<!channel> & <!here>")
    await factory.assistant(team, model)
    receiver.secret = ""
    rt = await make_runtime(slack_webhook_url=receiver.url("/services/T0/B0/x"))
    await announce(rt, {"model": model, "teams": [team]})

    await send_deliveries(rt, EmptyPayload(), backoff=FAST, linger_seconds=0)

    (message,) = receiver.bodies()
    shown = message["text"]
    assert message["blocks"][0]["text"]["text"] == shown
    assert "<" not in shown and ">" not in shown
    assert "openai:&lt;!channel&gt; &amp; &lt;!here&gt; will be retired" in shown
    assert "&lt;https://evil.example/login|Re-authenticate here&gt;: 1 assistant" in shown


@pytest.fixture
def smtp_auth() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver(auth=True).start()
    yield server
    server.stop()


async def test_smtp_password_is_never_sent_in_clear_unless_the_url_opts_out(
    make_runtime: MakeRuntime, factory: Factory, smtp_auth: SmtpReceiver
) -> None:
    f = await fleet(factory, 1)
    clear = f"smtp://mailer:pa55word@127.0.0.1:{smtp_auth.port}"
    rt = await make_runtime(smtp_url=clear)
    await announce(rt, f)

    await send_deliveries(rt, EmptyPayload(), backoff=FAST, linger_seconds=5)

    rows = await deliveries(rt)
    assert [(r.status, r.attempts) for r in rows] == [("failed", 1)] * 2
    assert rows[0].last_error.startswith("refused to send the SMTP password in clear")
    assert f"?{PLAINTEXT_OPT_OUT}=true" in rows[0].last_error
    assert smtp_auth.logins == [] and smtp_auth.messages == []

    opted_out = await make_runtime(smtp_url=f"{clear}?{PLAINTEXT_OPT_OUT}=true")
    async with opted_out.engine.begin() as conn:
        await conn.execute(
            text("UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = now()")
        )
    await send_deliveries(opted_out, EmptyPayload(), backoff=FAST, linger_seconds=5)

    assert {r.status for r in await deliveries(rt)} == {"delivered"}
    assert smtp_auth.logins == [("mailer", "pa55word")] * 2


async def test_receivers_verify_a_delivery_with_standard_webhooks_and_stripe(
    make_runtime: MakeRuntime, factory: Factory, receiver: HttpReceiver
) -> None:
    f = await fleet(factory, 1)
    rt = await make_runtime(webhook_url=receiver.url(), webhook_secret=SECRET)
    await announce(rt, f)

    await send_deliveries(rt, EmptyPayload(), backoff=FAST, linger_seconds=0)

    (call,) = receiver.calls
    headers = {k.lower(): v for k, v in call.headers.items()}
    assert headers["webhook-id"] == headers["idempotency-key"]
    assert headers["webhook-signature"].startswith("v1,")
    standard = standardwebhooks.Webhook(standard_webhooks_secret(SECRET))
    assert standard.verify(call.body, headers)["event_id"] == json.loads(call.body)["event_id"]
    signature = headers["lifecycle-signature"]
    assert stripe.WebhookSignature.verify_header(call.body.decode(), signature, SECRET)

    tampered = call.body.replace(b'"level":"warning"', b'"level":"info"')
    assert tampered != call.body
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standard.verify(tampered, headers)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(tampered.decode(), signature, SECRET)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(standard_webhooks_secret("other")).verify(call.body, headers)
