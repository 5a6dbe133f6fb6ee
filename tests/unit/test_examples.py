"""examples/webhook_receiver.py accepts what the worker sends and nothing else."""

import time
import uuid

import pytest
import stripe
from standardwebhooks.webhooks import WebhookVerificationError

from examples.receiver_libraries import verify_with_standard_webhooks, verify_with_stripe
from examples.webhook_receiver import verify
from jobs.channels.webhook import encode_body, idempotency_key, webhook_headers

SECRET = "s3cret"


def _call(timestamp: int) -> tuple[bytes, dict[str, str]]:
    body = encode_body({"event_id": str(uuid.uuid4()), "slug": "llm-model-retiring"})
    key = idempotency_key(uuid.uuid4(), uuid.uuid4())
    return body, webhook_headers(SECRET, timestamp, body, key)


def test_the_receiver_example_accepts_a_call_the_worker_signed() -> None:
    body, headers = _call(int(time.time()))
    assert verify(SECRET, headers["Lifecycle-Signature"], body)


def test_the_receiver_example_refuses_a_changed_body_a_wrong_secret_and_an_old_call() -> None:
    body, headers = _call(int(time.time()))
    signature = headers["Lifecycle-Signature"]
    assert not verify(SECRET, signature, body + b" ")
    assert not verify("other", signature, body)
    old_body, old = _call(int(time.time()) - 3600)
    assert not verify(SECRET, old["Lifecycle-Signature"], old_body)
    assert not verify(SECRET, "garbage", body)


def test_the_receiver_libraries_example_accepts_a_signed_call_and_refuses_a_changed_one() -> None:
    body, headers = _call(int(time.time()))
    assert verify_with_standard_webhooks(SECRET, body, headers)["slug"] == "llm-model-retiring"
    verify_with_stripe(SECRET, body, headers)
    with pytest.raises(WebhookVerificationError):
        verify_with_standard_webhooks(SECRET, body + b" ", headers)
    with pytest.raises(stripe.SignatureVerificationError):
        verify_with_stripe("other", body, headers)
