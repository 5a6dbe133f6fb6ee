"""What a webhook receiver checks before trusting a call (docs/notifications.md).

The worker signs each call with ``Lifecycle-Signature: t=<unix seconds>,v1=<hex
HMAC-SHA256(secret, "<t>." + raw body)>``; de-duplicate on the ``Idempotency-Key`` header,
which is the same on every retry of one delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import time


def verify(secret: str, header: str, raw_body: bytes, tolerance: int = 300) -> bool:
    """True when the signature matches the raw body and is at most ``tolerance`` s old."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    signed = f"{timestamp}.".encode() + raw_body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - timestamp) <= tolerance
    return fresh and hmac.compare_digest(expected, fields.get("v1", ""))
