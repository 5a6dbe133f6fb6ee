"""What the channels send and how answers are read: signatures, targets, retry classes,
backoff, and the settings that configure them."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

import pytest

from jobs.channels.base import (
    MAX_ERROR_CHARS,
    classify_status,
    clean_header,
    public_target,
    retry_after,
    scrub,
    url_secrets,
)
from jobs.channels.email import SmtpServer
from jobs.channels.webhook import (
    encode_body,
    idempotency_key,
    sign,
    verify_signature,
    webhook_headers,
)
from jobs.deliveries import Backoff
from worker.settings import SettingsError, load_settings


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = encode_body({"b": 1, "a": [1, 2]})
    assert body == b'{"a":[1,2],"b":1}'
    header = sign("s3cret", 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify_signature("s3cret", header, body, now=1_700_000_100)
    assert not verify_signature("other", header, body, now=1_700_000_100)
    assert not verify_signature("s3cret", header, body + b" ", now=1_700_000_100)
    assert not verify_signature("s3cret", header, body, now=1_700_001_000)  # too old
    assert not verify_signature("s3cret", "garbage", body, now=1_700_000_000)


def test_headers_carry_the_idempotency_key() -> None:
    event, team = uuid.uuid4(), uuid.uuid4()
    key = idempotency_key(event, team)
    assert key == f"{event}:{team}"
    headers = webhook_headers("k", 1, b"{}", key)
    assert headers["Idempotency-Key"] == key
    assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://hooks.slack.com/services/T0/B0/xoxtoken", "https://hooks.slack.com"),
        ("http://user:pw@127.0.0.1:8080/hook?token=x", "http://127.0.0.1:8080"),
    ],
)
def test_targets_never_show_paths_queries_or_credentials(url: str, target: str) -> None:
    assert public_target(url) == target


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (301, "failed"),
        (400, "failed"),
        (401, "failed"),
        (404, "failed"),
        (408, "retry"),
        (410, "failed"),
        (422, "failed"),
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
    ],
)
def test_http_status_classes(status: int, verdict: str) -> None:
    assert classify_status(status) == verdict


def test_retry_after_reads_seconds_and_ignores_junk() -> None:
    assert retry_after("12") == 12.0
    assert retry_after(None) is None
    assert retry_after("soon") is None
    assert retry_after("nan") is None
    assert retry_after("-5") == 0.0


def test_retry_after_reads_http_dates_with_their_zone() -> None:
    now = datetime(2015, 10, 21, 7, 0, tzinfo=UTC)
    # "-0000": a date in UTC of unknown origin; parsed naive by the standard library.
    assert retry_after("Wed, 21 Oct 2015 07:28:00 -0000", now=now) == 28 * 60
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 28 * 60
    assert retry_after("Wed, 21 Oct 2015 09:28:00 +0200", now=now) == 28 * 60
    assert retry_after("Wed, 21 Oct 2015 06:00:00 GMT", now=now) == 0.0


def test_scrub_removes_every_part_of_a_configured_url_and_bounds_the_text() -> None:
    url = "https://hooks.test/services/T0AB/B0CD/xoxb-t0ken?sig=q-s3cret&v=2"
    echoed = f"Cannot POST /services/T0AB/B0CD/xoxb-t0ken?sig=q-s3cret&v=2\r\nthen {'x' * 900}"
    shown = scrub(echoed, url_secrets(url))
    for part in ("T0AB", "B0CD", "xoxb-t0ken", "q-s3cret"):
        assert part not in shown
    assert "\n" not in shown and len(shown) == MAX_ERROR_CHARS


def test_header_values_are_one_line() -> None:
    assert clean_header("gpt\r\nBcc: victim@evil.test") == "gpt Bcc: victim@evil.test"


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    rng = random.Random(7)
    backoff = Backoff(base_seconds=5, cap_seconds=60)
    for attempts, full in [(1, 5), (2, 10), (3, 20), (4, 40), (5, 60), (30, 60)]:
        delays = [backoff.delay(attempts, rng) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full / 4  # spread out, not in lockstep


def test_scrub_removes_secrets_and_their_url_quoted_forms() -> None:
    text = "login failed for p%40ss and p@ss at https://h/x?t=tok"
    assert scrub(text, ["p%40ss", "tok"]) == "login failed for *** and *** at https://h/x?t=***"


def test_smtp_url_parsing() -> None:
    plain = SmtpServer.from_url("smtp://mailer:p%40ss@mail.test:2525")
    assert (plain.hostname, plain.port, plain.username, plain.password) == (
        "mail.test",
        2525,
        "mailer",
        "p@ss",
    )
    assert not plain.use_tls
    assert SmtpServer.from_url("smtps://mail.test").port == 465


def test_channel_settings() -> None:
    s = load_settings({"LIFECYCLE_WEBHOOK_URL": "", "LIFECYCLE_REMINDER_DAYS": "7, 90,30"})
    assert s.webhook_url is None
    assert s.reminder_milestones == (90, 30, 7)
    assert load_settings({}).reminder_milestones == (90, 30, 7, 1)
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET"):
        load_settings({"LIFECYCLE_WEBHOOK_URL": "https://h/x"})
    with pytest.raises(SettingsError, match="REMINDER_DAYS"):
        load_settings({"LIFECYCLE_REMINDER_DAYS": "90,soon"})
    with pytest.raises(SettingsError, match="SMTP_URL"):
        load_settings({"LIFECYCLE_SMTP_URL": "mail.test:25"})
    secret = load_settings(
        {"LIFECYCLE_WEBHOOK_URL": "https://h/x", "LIFECYCLE_WEBHOOK_SECRET": "hunter4"}
    )
    assert "hunter4" not in repr(secret) and "hunter4" not in str(secret.model_dump())


def test_every_channel_module_is_listed_and_its_settings_are_read() -> None:
    from pathlib import Path

    import jobs.channels
    from jobs.channels import CHANNELS, channel_kinds, configured_channels
    from worker.settings import Settings

    folder = Path(jobs.channels.__file__).parent
    modules = {p.stem for p in folder.glob("*.py")} - {"__init__", "base"}
    assert modules == set(CHANNELS)
    for kind in channel_kinds():
        assert set(kind.settings.model_fields) <= set(Settings.model_fields), kind.name
    settings = load_settings(
        {
            "LIFECYCLE_SLACK_WEBHOOK_URL": "https://hooks.slack.test/services/T0/B0/x",
            "LIFECYCLE_SMTP_URL": "smtp://mail.test:25",
        }
    )
    assert [c.name for c in configured_channels(settings.job_config)] == ["slack", "email"]
    assert configured_channels(load_settings({}).job_config) == ()
