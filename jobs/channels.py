"""What each channel sends (docs/notifications.md): the webhook body and its headers, the
Slack message, the email. Pure functions; sending is ``jobs.senders``."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from db.keys import HostId
from db.queries.recipients import Recipient
from jobs.notification_text import EventFacts, Message, describe_counts, describe_history

WEBHOOK = "webhook"
SLACK = "slack"
EMAIL = "email"
SLACK_TEAMS_SHOWN = 10


def public_target(url: str) -> str:
    """``scheme://host[:port]`` of a URL: what may be shown of a webhook (its path,
    query and credentials can hold tokens, so they are never stored or printed)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


@dataclass(frozen=True)
class TeamInfo:
    """A team as messages name it."""

    id: HostId
    slug: str | None
    name: str | None


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
    return f"{event_id}:{team_id}"


def webhook_headers(secret: str, timestamp: int, body: bytes, key: str) -> dict[str, str]:
    """Headers of a webhook call."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "model-lifecycle-worker",
        "Lifecycle-Signature": sign(secret, timestamp, body),
        "Idempotency-Key": key,
    }


@dataclass(frozen=True)
class TeamUsage:
    """One affected team in an event-wide message."""

    label: str
    counts: dict[str, int]
    history: dict[str, int]


def slack_message(
    facts: EventFacts,
    title: str,
    teams: Sequence[TeamUsage],
    *,
    label_order: Mapping[str, int],
) -> dict[str, Any]:
    """An incoming-webhook message for one event: the model, what replaces it, the date,
    and what the most affected teams use (the rest summed up; labels in ``label_order``)."""
    lines = [f"*{title}*"]
    if facts.replacement:
        lines.append(f"Replacement: `{facts.replacement}`")
    elif facts.suggested:
        lines.append(f"Suggested successor (litellm, not applied): `{facts.suggested}`")
    else:
        lines.append("Replacement: none set")
    if facts.deprecation_date:
        lines.append(f"Date: {facts.deprecation_date.isoformat()}")
    ranked = sorted(teams, key=lambda t: (-sum(t.counts.values()), t.label))
    lines.append(f"Teams affected: {len(ranked)}")
    for team in ranked[:SLACK_TEAMS_SHOWN]:
        used = describe_counts(team.counts, label_order=label_order) or "nothing live"
        recent = describe_history(team.history, label_order=label_order)
        lines.append(f"• {team.label}: {used}" + (f"; {recent}" if recent else ""))
    if len(ranked) > SLACK_TEAMS_SHOWN:
        lines.append(f"…and {len(ranked) - SLACK_TEAMS_SHOWN} more teams")
    text = "\n".join(lines)
    return {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def email_message(
    *, sender: str, to: str, subject: str, text: str, message_id: str
) -> EmailMessage:
    """Plain text and HTML (the same words) to one recipient."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    # The same id on every retry, so a mail client shows a repeated send once.
    msg["Message-ID"] = message_id
    msg.set_content(text)
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())
    msg.add_alternative(
        f"<!doctype html><html><body><h3>{html.escape(subject)}</h3>{paragraphs}</body></html>",
        subtype="html",
    )
    return msg


def email_message_id(
    event_id: uuid.UUID, team_id: HostId | None, user_id: HostId | None, sender: str
) -> str:
    """``<event.team.user@domain>``: stable per delivery."""
    domain = sender.rsplit("@", 1)[-1].strip("> ") or "localhost"
    return f"<{event_id}.{team_id}.{user_id}@{domain}>"
