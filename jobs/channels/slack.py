"""The Slack channel: one incoming-webhook message per event to
``LIFECYCLE_SLACK_WEBHOOK_URL`` (docs/notifications.md).

Every value from outside (model names, team slugs, counts' labels) is escaped for
Slack's mrkdwn, so tenant text cannot mention ``<!channel>`` or disguise a link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, SecretStr, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from db.queries.deliveries import ClaimedDelivery
from jobs.channels.base import (
    HTTP_PARK_AFTER_SECONDS,
    HTTP_SLOTS,
    Attempt,
    ChannelKind,
    Chunk,
    TeamUsage,
    post_json,
    url_secrets,
    write_web_rows,
)
from jobs.channels.webhook import empty_is_unset, encode_body, http_url
from jobs.config import JobConfig
from jobs.notification_text import EventFacts, describe_counts, describe_history
from jobs.runtime import Runtime

NAME = "slack"
SLACK_TEAMS_SHOWN = 10


class SlackSettings(BaseModel):
    """``LIFECYCLE_SLACK_WEBHOOK_URL`` (unset: off)."""

    slack_webhook_url: SecretStr | None = None

    _unset = field_validator("slack_webhook_url", mode="before")(empty_is_unset)
    _http = field_validator("slack_webhook_url")(http_url)


def mrkdwn(value: str) -> str:
    """``value`` as plain text in Slack mrkdwn: ``&``, ``<`` and ``>`` escaped (they
    start mentions such as ``<!channel>`` and links such as ``<https://…|text>``)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(
    facts: EventFacts,
    title: str,
    teams: Sequence[TeamUsage],
    *,
    label_order: Mapping[str, int],
) -> dict[str, Any]:
    """An incoming-webhook message for one event: the model, what replaces it, the date,
    and what the most affected teams use (the rest summed up; labels in ``label_order``)."""
    lines = [f"*{mrkdwn(title)}*"]
    if facts.replacement:
        lines.append(f"Replacement: `{mrkdwn(facts.replacement)}`")
    elif facts.suggested:
        lines.append(f"Suggested successor (litellm, not applied): `{mrkdwn(facts.suggested)}`")
    else:
        lines.append("Replacement: none set")
    if facts.deprecation_date:
        lines.append(f"Date: {facts.deprecation_date.isoformat()}")
    ranked = sorted(teams, key=lambda t: (-sum(t.counts.values()), t.label))
    lines.append(f"Teams affected: {len(ranked)}")
    for team in ranked[:SLACK_TEAMS_SHOWN]:
        used = describe_counts(team.counts, label_order=label_order) or "nothing live"
        recent = describe_history(team.history, label_order=label_order)
        line = f"{team.label}: {used}" + (f"; {recent}" if recent else "")
        lines.append(f"• {mrkdwn(line)}")
    if len(ranked) > SLACK_TEAMS_SHOWN:
        lines.append(f"…and {len(ranked) - SLACK_TEAMS_SHOWN} more teams")
    text = "\n".join(lines)
    return {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


@dataclass(frozen=True)
class SlackChannel:
    url: str
    name: str = NAME
    slots: int = HTTP_SLOTS
    park_after_seconds: float | None = HTTP_PARK_AFTER_SECONDS

    def secrets(self) -> list[str]:
        return url_secrets(self.url)

    async def write(self, session: AsyncSession, runtime: Runtime, chunk: Chunk) -> int:
        if chunk.event_wide is None or not chunk.messages:
            return 0
        title = chunk.messages[0][1].title
        message = slack_message(
            chunk.facts, title, chunk.event_wide, label_order=runtime.platform.label_order()
        )
        return await write_web_rows(
            session, runtime, chunk, channel=self.name, url=self.url, payloads={None: message}
        )

    async def send(self, delivery: ClaimedDelivery, http: httpx.AsyncClient) -> Attempt:
        headers = {"Content-Type": "application/json"}
        return await post_json(http, self.url, encode_body(delivery.payload), headers)


def configure(settings: SlackSettings, config: JobConfig) -> SlackChannel | None:
    if settings.slack_webhook_url is None:
        return None
    return SlackChannel(url=settings.slack_webhook_url.get_secret_value())


KIND = ChannelKind(NAME, SlackSettings, configure)
