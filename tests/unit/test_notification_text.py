"""What each kind of notification says, and the count phrases it is built from."""

import dataclasses
import uuid
from datetime import date

import pytest

from db.platform.host import reference_host
from jobs.events import Slug
from jobs.notification_text import (
    EventFacts,
    UnknownSlug,
    describe_counts,
    label_phrase,
    level_for,
    render_message,
)

EVENT_ID = uuid.UUID("00000000-0000-0000-0000-00000000000e")
MODEL_ID = uuid.UUID("00000000-0000-0000-0000-00000000000a")
TEAM_ID = uuid.UUID("00000000-0000-0000-0000-00000000000b")
ORDER = reference_host().label_order()


def facts(
    slug: Slug,
    *,
    replacement: tuple[str, str] | None = None,
    when: date | None = None,
    model_id: uuid.UUID | None = MODEL_ID,
) -> EventFacts:
    return EventFacts(
        event_id=EVENT_ID,
        slug=slug.value,
        model_id=model_id,
        model_provider="openai",
        model_name="gpt-4",
        replacement_provider=replacement[0] if replacement else None,
        replacement_model_name=replacement[1] if replacement else None,
        deprecation_date=when,
    )


def kept(event: EventFacts) -> EventFacts:
    """The event of a request for some teams that left the model live for the others."""
    return dataclasses.replace(event, source_kept=True)


@pytest.mark.parametrize(
    ("label", "count", "phrase"),
    [
        ("assistants", 1, "1 assistant"),
        ("assistants", 3, "3 assistants"),
        ("pipelines", 1, "1 pipeline"),
        ("services", 1, "1 service"),
        ("spaces", 2, "2 spaces"),
        ("app_runs", 1, "1 app run"),
        ("app_runs", 4, "4 app runs"),
        ("staff", 1, "1 staff"),
    ],
)
def test_label_phrase_singular_and_plural(label: str, count: int, phrase: str) -> None:
    assert label_phrase(label, count) == phrase


@pytest.mark.parametrize(
    ("counts", "text"),
    [
        ({"pipelines": 1, "assistants": 3}, "3 assistants, 1 pipeline"),
        ({"spaces": 1, "apps": 2, "templates": 0}, "2 apps, 1 space"),
        ({"zetas": 2, "assistants": 1, "alphas": 1}, "1 assistant, 1 alpha, 2 zetas"),
        ({"assistants": 0}, ""),
        ({}, ""),
    ],
)
def test_describe_counts_in_registry_order_without_zeros(counts: dict[str, int], text: str) -> None:
    assert describe_counts(counts, label_order=ORDER) == text


COUNTS = {"pipelines": 1, "assistants": 3}


@pytest.mark.parametrize(
    ("event", "level", "title", "body"),
    [
        (
            facts(Slug.DEPRECATED, replacement=("openai", "gpt-4o")),
            "warning",
            "openai:gpt-4 is deprecated",
            "The model openai:gpt-4 is deprecated. Your team still uses it in 3 assistants, "
            "1 pipeline. Move them to openai:gpt-4o (the recommended replacement).",
        ),
        (
            facts(Slug.DEPRECATED, when=date(2026, 1, 31)),
            "warning",
            "openai:gpt-4 is deprecated",
            "The model openai:gpt-4 is deprecated as of 2026-01-31. Your team still uses it in "
            "3 assistants, 1 pipeline. Choose another model for them.",
        ),
        (
            facts(Slug.RETIRING, replacement=("openai", "gpt-4o"), when=date(2026, 3, 1)),
            "warning",
            "openai:gpt-4 will be retired on 2026-03-01",
            "The model openai:gpt-4 will be retired on 2026-03-01. Your team uses it in "
            "3 assistants, 1 pipeline. Move them to openai:gpt-4o (the recommended replacement) "
            "before then.",
        ),
        (
            facts(Slug.RETIRING),
            "warning",
            "openai:gpt-4 will be retired soon",
            "The model openai:gpt-4 will be retired soon. Your team uses it in 3 assistants, "
            "1 pipeline. Choose another model for them before then.",
        ),
        (
            facts(Slug.MIGRATED, replacement=("anthropic", "claude-3-5-sonnet")),
            "info",
            "openai:gpt-4 was replaced by anthropic:claude-3-5-sonnet",
            "The model openai:gpt-4 was retired and your team's configuration was moved to "
            "anthropic:claude-3-5-sonnet: 3 assistants, 1 pipeline. No action is needed; "
            "check that they still behave as expected.",
        ),
        (
            facts(Slug.DELETED, replacement=("openai", "gpt-4o")),
            "warning",
            "openai:gpt-4 was removed",
            "The model openai:gpt-4 was removed from the platform. Your team's configuration "
            "that used it now uses openai:gpt-4o: 3 assistants, 1 pipeline. Check that they "
            "still behave as expected.",
        ),
        (
            facts(Slug.DELETED),
            "warning",
            "openai:gpt-4 was removed",
            "The model openai:gpt-4 was removed from the platform without a replacement. Your "
            "team's configuration that used it no longer has a model set: 3 assistants, "
            "1 pipeline. Choose a model for them.",
        ),
        (
            kept(facts(Slug.MIGRATED, replacement=("openai", "gpt-4o"))),
            "info",
            "openai:gpt-4 was replaced by openai:gpt-4o for your team",
            "Your team's configuration that used openai:gpt-4 was moved to openai:gpt-4o: "
            "3 assistants, 1 pipeline. openai:gpt-4 stays available to other teams for now. "
            "No action is needed; check that they still behave as expected.",
        ),
        (
            kept(facts(Slug.DELETED, replacement=("openai", "gpt-4o"))),
            "warning",
            "openai:gpt-4 was removed for your team",
            "Your team's configuration that used openai:gpt-4 now uses openai:gpt-4o: "
            "3 assistants, 1 pipeline. openai:gpt-4 stays available to other teams for now. "
            "Check that they still behave as expected.",
        ),
        (
            kept(facts(Slug.DELETED)),
            "warning",
            "openai:gpt-4 was removed for your team",
            "Your team's configuration that used openai:gpt-4 no longer has a model set: "
            "3 assistants, 1 pipeline. openai:gpt-4 stays available to other teams for now. "
            "Choose a model for them.",
        ),
    ],
)
def test_message_per_slug(event: EventFacts, level: str, title: str, body: str) -> None:
    message = render_message(event, TEAM_ID, COUNTS, label_order=ORDER)
    assert (message.slug, message.level, message.title, message.body) == (
        event.slug,
        level,
        title,
        body,
    )


def test_migrated_message_says_what_became_of_parameters_of_labels_that_carry_them() -> None:
    event = facts(Slug.MIGRATED, replacement=("openai", "o3-mini"))
    modes = {"assistants": "translate", "apps": "reset"}
    message = render_message(event, TEAM_ID, {"pipelines": 2}, label_order=ORDER, parameters=modes)
    assert "parameters" not in message.body
    assert ": 2 pipelines." in message.body
    message = render_message(
        event, TEAM_ID, {"assistants": 1, "apps": 2}, label_order=ORDER, parameters=modes
    )
    assert "The model parameters of your apps were reset to the defaults." in message.body
    assert (
        "The model parameters of your assistants were carried to openai:o3-mini, renamed or "
        "left out where it takes them differently." in message.body
    )


def test_data_holds_ids_and_counts() -> None:
    event = facts(Slug.RETIRING, replacement=("openai", "gpt-4o"), when=date(2026, 3, 1))
    message = render_message(
        event, TEAM_ID, {"pipelines": 1, "assistants": 3, "apps": 0}, label_order=ORDER
    )
    assert message.data == {
        "event_id": str(EVENT_ID),
        "slug": "llm-model-retiring",
        "team_id": str(TEAM_ID),
        "model": {"id": str(MODEL_ID), "provider": "openai", "name": "gpt-4", "team_id": None},
        "replacement": {"provider": "openai", "name": "gpt-4o"},
        "suggested_replacement": None,
        "deprecation_date": "2026-03-01",
        "counts": {"assistants": 3, "pipelines": 1},
        "total": 4,
        "recent_history": {},
        "recent_history_days": 30,
    }


def test_data_after_hard_delete_has_no_model_id_and_no_replacement() -> None:
    message = render_message(
        facts(Slug.DELETED, model_id=None), TEAM_ID, {"apps": 1}, label_order=ORDER
    )
    assert message.data["model"] == {
        "id": None,
        "provider": "openai",
        "name": "gpt-4",
        "team_id": None,
    }
    assert message.data["replacement"] is None


@pytest.mark.parametrize("slug", list(Slug))
def test_a_teams_custom_model_is_named_with_its_team(slug: Slug) -> None:
    custom = dataclasses.replace(facts(slug, when=date(2026, 3, 1)), model_team_id=TEAM_ID)
    message = render_message(custom, TEAM_ID, {"assistants": 1}, label_order=ORDER)
    named = f"openai:gpt-4 (team {TEAM_ID})"
    assert message.title.startswith(named) and f"The model {named} " in message.body
    assert message.data["model"]["team_id"] == str(TEAM_ID)
    plain = render_message(
        facts(slug, when=date(2026, 3, 1)), TEAM_ID, {"assistants": 1}, label_order=ORDER
    )
    assert "(team" not in plain.title + plain.body


@pytest.mark.parametrize(
    ("slug", "level"),
    [
        ("llm-model-deprecated", "warning"),
        ("llm-model-retiring", "warning"),
        ("llm-model-deleted", "warning"),
        ("llm-model-migrated", "info"),
    ],
)
def test_levels(slug: str, level: str) -> None:
    assert level_for(slug) == level


def test_unknown_slug_is_refused() -> None:
    with pytest.raises(UnknownSlug, match="llm-model-exploded"):
        level_for("llm-model-exploded")
