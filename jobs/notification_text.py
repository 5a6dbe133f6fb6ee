"""What a notification says: title, body, level and data for one team and one event.

Pure functions of the event's snapshot and the team's counts, so the text is tested
without a database and stays the same when the model row is gone.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from db.keys import HostId
from jobs.events import Slug
from jobs.model_ref import model_label

LEVELS: dict[Slug, str] = {
    Slug.DEPRECATED: "warning",
    Slug.RETIRING: "warning",
    Slug.MIGRATED: "info",
    Slug.DELETED: "warning",
    Slug.UNDONE: "warning",
}


class UnknownSlug(ValueError):
    """The event carries a slug this version cannot describe."""


@dataclass(frozen=True)
class EventFacts:
    """The parts of a lifecycle event a message is written from (snapshots, not live rows)."""

    event_id: uuid.UUID
    slug: str
    model_id: HostId | None
    model_provider: str
    model_name: str
    replacement_provider: str | None = None
    replacement_model_name: str | None = None
    deprecation_date: date | None = None
    # litellm's successor, resolved to a model here; shown as a suggestion, never applied.
    suggested_provider: str | None = None
    suggested_model_name: str | None = None
    # The team whose custom model it is (None: a global model).
    model_team_id: HostId | None = None
    # A request for some teams moved their rows and left the model live for the others.
    source_kept: bool = False

    @property
    def model(self) -> str:
        return model_label(self.model_provider, self.model_name, self.model_team_id)

    @property
    def replacement(self) -> str | None:
        if self.replacement_provider is None or self.replacement_model_name is None:
            return None
        return f"{self.replacement_provider}:{self.replacement_model_name}"

    @property
    def suggested(self) -> str | None:
        if self.replacement or self.suggested_provider is None or not self.suggested_model_name:
            return None
        return f"{self.suggested_provider}:{self.suggested_model_name}"


@dataclass(frozen=True)
class Message:
    """One team's notification for one event (the same for every member of the team)."""

    slug: str
    level: str
    title: str
    body: str
    data: dict[str, Any]


def affected_counts(counts: dict[str, int], *, label_order: Mapping[str, int]) -> dict[str, int]:
    """The labels with at least one row, in ``label_order`` (the host platform's
    ``Platform.label_order()``; unknown labels last, by name)."""
    kept = {label: int(n) for label, n in counts.items() if int(n) > 0}
    last = len(label_order)
    return dict(sorted(kept.items(), key=lambda item: (label_order.get(item[0], last), item[0])))


def label_phrase(label: str, count: int) -> str:
    """``3 assistants``, ``1 pipeline``, ``2 app runs``: a registry label with its count."""
    words = label.replace("_", " ")
    if count == 1 and words.endswith("s"):
        words = words[:-1]
    return f"{count} {words}"


def describe_counts(counts: dict[str, int], *, label_order: Mapping[str, int]) -> str:
    """``3 assistants, 1 pipeline`` (labels with no rows left out), in ``label_order``."""
    used = affected_counts(counts, label_order=label_order)
    return ", ".join(label_phrase(label, n) for label, n in used.items())


def level_for(slug: str) -> str:
    """The notification level of an event slug."""
    try:
        return LEVELS[Slug(slug)]
    except ValueError:
        raise UnknownSlug(f"no notification text for event slug {slug!r}") from None


HISTORY_DAYS = 30


def describe_history(
    history: dict[str, int], days: int = HISTORY_DAYS, *, label_order: Mapping[str, int]
) -> str:
    """``412 questions, 3 app runs in the last 30 days`` (empty when there is none)."""
    counts = describe_counts(history, label_order=label_order)
    return f"{counts} in the last {days} days" if counts else ""


def render_message(
    facts: EventFacts,
    team_id: HostId,
    counts: dict[str, int],
    history: dict[str, int] | None = None,
    *,
    label_order: Mapping[str, int],
    parameters: Mapping[str, str] | None = None,
) -> Message:
    """The notification a team's members receive about ``facts``.

    ``history`` is what the team produced on the model in the last ``HISTORY_DAYS`` days
    (``{label: rows}`` of history references), so a team can tell which retirement matters.
    Labels are listed in ``label_order`` (the host platform's ``Platform.label_order()``);
    ``parameters`` names the labels whose model parameters move with them, and how
    (``Platform.parameter_modes()``).
    """
    level = level_for(facts.slug)
    used = affected_counts(counts, label_order=label_order)
    usage = describe_counts(used, label_order=label_order)
    recent = affected_counts(history or {}, label_order=label_order)
    if facts.slug == Slug.MIGRATED:
        title, body = _migrated(facts, usage, used, parameters or {})
    else:
        title, body = _TEXT[Slug(facts.slug)](facts, usage, used)
    if recent:
        body += f" Your team's recent use: {describe_history(recent, label_order=label_order)}."
    data: dict[str, Any] = {
        "event_id": str(facts.event_id),
        "slug": facts.slug,
        "team_id": str(team_id),
        "model": {
            "id": str(facts.model_id) if facts.model_id else None,
            "provider": facts.model_provider,
            "name": facts.model_name,
            "team_id": str(facts.model_team_id) if facts.model_team_id is not None else None,
        },
        "replacement": (
            {"provider": facts.replacement_provider, "name": facts.replacement_model_name}
            if facts.replacement
            else None
        ),
        "suggested_replacement": (
            {"provider": facts.suggested_provider, "name": facts.suggested_model_name}
            if facts.suggested
            else None
        ),
        "deprecation_date": facts.deprecation_date.isoformat() if facts.deprecation_date else None,
        "counts": used,
        "total": sum(used.values()),
        "recent_history": recent,
        "recent_history_days": HISTORY_DAYS,
    }
    return Message(slug=facts.slug, level=level, title=title, body=body, data=data)


def _move_to(facts: EventFacts, when: str = "") -> str:
    if facts.replacement:
        return f"Move them to {facts.replacement} (the recommended replacement){when}."
    if facts.suggested:
        return (
            f"Choose another model for them{when}; litellm suggests {facts.suggested} "
            "(a suggestion: nothing is moved for you)."
        )
    return f"Choose another model for them{when}."


def _deprecated(facts: EventFacts, usage: str, used: dict[str, int]) -> tuple[str, str]:
    since = f" as of {facts.deprecation_date.isoformat()}" if facts.deprecation_date else ""
    title = f"{facts.model} is deprecated"
    body = (
        f"The model {facts.model} is deprecated{since}. "
        f"Your team still uses it in {usage}. {_move_to(facts)}"
    )
    return title, body


def _retiring(facts: EventFacts, usage: str, used: dict[str, int]) -> tuple[str, str]:
    on = f"on {facts.deprecation_date.isoformat()}" if facts.deprecation_date else "soon"
    title = f"{facts.model} will be retired {on}"
    body = (
        f"The model {facts.model} will be retired {on}. "
        f"Your team uses it in {usage}. {_move_to(facts, ' before then')}"
    )
    return title, body


def _migrated(
    facts: EventFacts, usage: str, used: dict[str, int], modes: Mapping[str, str]
) -> tuple[str, str]:
    target = facts.replacement or "another model"
    title = f"{facts.model} was replaced by {target}"
    body = (
        f"The model {facts.model} was retired and your team's configuration was moved "
        f"to {target}: {usage}. "
    )
    if facts.source_kept:
        title += " for your team"
        body = (
            f"Your team's configuration that used {facts.model} was moved to {target}: "
            f"{usage}. {_still_available(facts)}"
        )
    body += _parameter_note(target, used, modes)
    body += "No action is needed; check that they still behave as expected."
    return title, body


def _parameter_note(target: str, used: dict[str, int], modes: Mapping[str, str]) -> str:
    """What became of the moved rows' model parameters, for the labels the team uses."""
    note = ""
    for mode, sentence in (
        ("reset", "The model parameters of your {} were reset to the defaults. "),
        (
            "translate",
            f"The model parameters of your {{}} were carried to {target}, "
            "renamed or left out where it takes them differently. ",
        ),
    ):
        labels = [label for label in used if modes.get(label) == mode]
        if labels:
            note += sentence.format(" and ".join(labels))
    return note


def _still_available(facts: EventFacts) -> str:
    return f"{facts.model} stays available to other teams for now. "


def _deleted(facts: EventFacts, usage: str, used: dict[str, int]) -> tuple[str, str]:
    if facts.source_kept:
        return _deleted_for_team(facts, usage)
    title = f"{facts.model} was removed"
    if facts.replacement:
        body = (
            f"The model {facts.model} was removed from the platform. "
            f"Your team's configuration that used it now uses {facts.replacement}: {usage}. "
            "Check that they still behave as expected."
        )
    else:
        body = (
            f"The model {facts.model} was removed from the platform without a replacement. "
            f"Your team's configuration that used it no longer has a model set: {usage}. "
            "Choose a model for them."
        )
    return title, body


def _deleted_for_team(facts: EventFacts, usage: str) -> tuple[str, str]:
    """A deletion for some teams: the model stays live for the others."""
    title = f"{facts.model} was removed for your team"
    if facts.replacement:
        now = f"now uses {facts.replacement}: {usage}. {_still_available(facts)}"
        advice = "Check that they still behave as expected."
    else:
        now = f"no longer has a model set: {usage}. {_still_available(facts)}"
        advice = "Choose a model for them."
    return title, f"Your team's configuration that used {facts.model} {now}{advice}"


def _undone(facts: EventFacts, usage: str, used: dict[str, int]) -> tuple[str, str]:
    moved = f"to {facts.replacement}" if facts.replacement else "off it"
    title = f"{facts.model} is back: the move {moved} was undone"
    body = (
        f"The model {facts.model} is back in your team's configuration: the move {moved} "
        f"was undone for {usage}, with the settings they had before. "
        "Anything your team changed since was left as it is."
    )
    return title, body


_TEXT = {
    Slug.DEPRECATED: _deprecated,
    Slug.RETIRING: _retiring,
    Slug.DELETED: _deleted,
    Slug.UNDONE: _undone,
}
