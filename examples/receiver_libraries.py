"""Verifying the worker's webhooks with a library the receiver already has.

Standard Webhooks libraries check ``webhook-signature`` with the secret in its ``whsec_``
form (``whsec_`` and the base64 of the secret); Stripe's SDK checks
``Lifecycle-Signature`` with the secret as it is. Each raises on a call the worker did not
sign (a changed body, another secret, an old timestamp).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import stripe
from standardwebhooks import Webhook


def whsec(secret: str) -> str:
    """``LIFECYCLE_WEBHOOK_SECRET`` in the form Standard Webhooks libraries take."""
    return "whsec_" + base64.b64encode(secret.encode()).decode()


def verify_with_standard_webhooks(secret: str, raw_body: bytes, headers: Mapping[str, str]) -> Any:
    """The payload of a call the worker signed (``webhook-id``, ``-timestamp``, ``-signature``)."""
    return Webhook(whsec(secret)).verify(raw_body, dict(headers))


def verify_with_stripe(secret: str, raw_body: bytes, headers: Mapping[str, str]) -> None:
    """Raise ``stripe.SignatureVerificationError`` unless the worker signed this call."""
    stripe.WebhookSignature.verify_header(raw_body.decode(), headers["Lifecycle-Signature"], secret)
