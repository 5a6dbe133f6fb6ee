"""The webhook channel: one signed ``POST`` per (event, team) to
``LIFECYCLE_WEBHOOK_URL`` (docs/notifications.md).

Two signatures over the same bytes, both keyed with ``LIFECYCLE_WEBHOOK_SECRET``:
``Lifecycle-Signature: t=<unix>,v1=<hex HMAC-SHA256("<t>." + body)>`` (Stripe's scheme:
its SDK verifies it) and the Standard Webhooks headers ``webhook-id``,
``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC-SHA256("<id>.<t>." + body)>``
(a Standard Webhooks library verifies them given the secret's ``whsec_`` form,
:func:`standard_webhooks_secret`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, SecretStr, field_validator, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from db.keys import HostId
from db.queries.deliveries import ClaimedDelivery
from db.queries.recipients import Recipient
from jobs.channels.base import (
    HTTP_PARK_AFTER_SECONDS,
    HTTP_SLOTS,
    Attempt,
    ChannelKind,
    Chunk,
    TeamInfo,
    clean_header,
    post_json,
    url_secrets,
    write_web_rows,
)
from jobs.config import JobConfig
from jobs.notification_text import Message
from jobs.runtime import Runtime

NAME = "webhook"


def http_url(value: SecretStr | None) -> SecretStr | None:
    """Settings check shared by the web channels: an http(s) URL (empty: unset)."""
    if value is not None and not value.get_secret_value().startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


def empty_is_unset(value: object) -> object:
    return None if value == "" else value


class WebhookSettings(BaseModel):
    """``LIFECYCLE_WEBHOOK_URL`` and ``LIFECYCLE_WEBHOOK_SECRET`` (URL unset: off)."""

    webhook_url: SecretStr | None = None
    webhook_secret: SecretStr | None = None

    _unset = field_validator("webhook_url", "webhook_secret", mode="before")(empty_is_unset)
    _http = field_validator("webhook_url")(http_url)

    @model_validator(mode="after")
    def _needs_secret(self) -> WebhookSettings:
        if self.webhook_url is not None and self.webhook_secret is None:
            raise ValueError("LIFECYCLE_WEBHOOK_URL is set but LIFECYCLE_WEBHOOK_SECRET is not")
        return self


def webhook_body(
    message: Message, team: TeamInfo, recipients: Sequence[Recipient]
) -> dict[str, Any]:
    """The JSON body of one (event, team) webhook call (the in-app data and text, the
    team, and who was told)."""
    data = message.data
    return {
        "event_id": data["event_id"],
        "slug": message.slug,
        "level": message.level,
        "team": {"id": str(team.id), "slug": team.slug, "name": team.name},
        "model": data["model"],
        "replacement": data["replacement"],
        "suggested_replacement": data["suggested_replacement"],
        "deprecation_date": data["deprecation_date"],
        "counts": data["counts"],
        "recent_history": data["recent_history"],
        "recent_history_days": data["recent_history_days"],
        "recipients": [{"user_id": str(r.user_id), "email": r.email} for r in recipients],
        "title": message.title,
        "body": message.body,
    }


def encode_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent and signed: compact JSON with sorted keys (the same on
    every retry, since the payload is stored)."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256(secret, "<id>.<t>." + body)>`` (Standard Webhooks)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(secret.encode(), signed, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def standard_webhooks_secret(secret: str) -> str:
    """``LIFECYCLE_WEBHOOK_SECRET`` as a Standard Webhooks library takes it:
    ``whsec_`` and the base64 of its UTF-8 bytes."""
    return "whsec_" + base64.b64encode(secret.encode()).decode()


def verify_signature(
    secret: str, header: str, body: bytes, *, now: int, tolerance_seconds: int = 300
) -> bool:
    """What a receiver checks: the signature matches and is at most ``tolerance`` old."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    fresh = abs(now - timestamp) <= tolerance_seconds
    return fresh and hmac.compare_digest(expected, fields.get("v1", ""))


def idempotency_key(event_id: uuid.UUID, team_id: HostId | None) -> str:
    """``<event_id>:<team_id>``: the same for every retry of one webhook delivery."""
    return clean_header(f"{event_id}:{team_id}")


def webhook_headers(secret: str, timestamp: int, body: bytes, key: str) -> dict[str, str]:
    """Headers of a webhook call."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "model-lifecycle-worker",
        "Lifecycle-Signature": sign(secret, timestamp, body),
        "Idempotency-Key": key,
        "webhook-id": key,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(secret, key, timestamp, body),
    }


@dataclass(frozen=True)
class WebhookChannel:
    url: str
    secret: str
    name: str = NAME
    slots: int = HTTP_SLOTS
    park_after_seconds: float | None = HTTP_PARK_AFTER_SECONDS

    def secrets(self) -> list[str]:
        return [self.secret, *url_secrets(self.url)]

    async def write(self, session: AsyncSession, runtime: Runtime, chunk: Chunk) -> int:
        if not chunk.messages:
            return 0
        payloads: dict[HostId | None, dict[str, Any]] = {
            team.id: webhook_body(message, team, chunk.recipients.of(team.id))
            for team, message in chunk.messages
        }
        return await write_web_rows(
            session, runtime, chunk, channel=self.name, url=self.url, payloads=payloads
        )

    async def send(self, delivery: ClaimedDelivery, http: httpx.AsyncClient) -> Attempt:
        body = encode_body(delivery.payload)
        key = idempotency_key(delivery.event_id, delivery.team_id)
        headers = webhook_headers(self.secret, int(time.time()), body, key)
        return await post_json(http, self.url, body, headers)


def configure(settings: WebhookSettings, config: JobConfig) -> WebhookChannel | None:
    if settings.webhook_url is None or settings.webhook_secret is None:
        return None
    return WebhookChannel(
        url=settings.webhook_url.get_secret_value(),
        secret=settings.webhook_secret.get_secret_value(),
    )


KIND = ChannelKind(NAME, WebhookSettings, configure)
