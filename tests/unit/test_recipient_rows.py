"""Each row of the recipients query is judged on its own (no database: the values are what
a driver hands back, including the types a query should not return)."""

from __future__ import annotations

import uuid

import pytest

from db.queries.recipients import (
    MAX_EMAIL_LENGTH,
    Recipient,
    RecipientsQueryError,
    SkippedRow,
    sort_rows,
)

TEAM, OTHER_TEAM = 10, 20
COLUMNS = ("team_id", "user_id", "email")


def judge(*row: object, user_key: str = "bigint") -> tuple[list[Recipient], list[str]]:
    out = sort_rows(COLUMNS, [(TEAM, 1, "first@example.test"), row], [TEAM], user_key)
    return out.all(), [s.reason for s in out.skipped]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ((None, 2, "a@example.test"), "team_id is NULL"),
        (("10", 2, "a@example.test"), "team_id is text, not an id"),
        ((True, 2, "a@example.test"), "team_id is bool, not an id"),
        ((10.0, 2, "a@example.test"), "team_id is float, not an id"),
        ((OTHER_TEAM, 2, "a@example.test"), "team_id is not one of the teams asked for"),
        ((TEAM, None, "a@example.test"), "user_id is NULL"),
        ((TEAM, "2", "a@example.test"), "user_id is text, not an id"),
        ((TEAM, [2], "a@example.test"), "user_id is list, not an id"),
        ((TEAM, uuid.uuid4(), "a@example.test"), "user_id is a uuid; user ids are bigint"),
        ((TEAM, 2**63, "a@example.test"), "user_id is out of the bigint range"),
        ((TEAM, 1, "again@example.test"), "listed twice; told once"),
    ],
)
def test_a_row_that_names_no_one_is_skipped_and_the_others_stay(
    row: tuple[object, ...], reason: str
) -> None:
    told, skipped = judge(*row)
    assert told == [Recipient(TEAM, 1, "first@example.test")]
    assert skipped == [reason]


@pytest.mark.parametrize(
    ("email", "why"),
    [
        (None, "no email address (NULL)"),
        (42, "the email is int, not text"),
        (
            "x" * MAX_EMAIL_LENGTH + "@example.test",
            "the email is 267 characters long (at most 254)",
        ),
        ("a@example.test\r\nBcc: all@example.test", "the email is not one address"),
        ("a@example.test, b@example.test", "the email is not one address"),
        ("Alice <a@example.test>", "the email is not one address"),
        ("\x1b]52;c;aGk=\x07@example.test", "the email is not one address"),
        ("no-at-sign", "the email is not one address"),
        ("", "the email is not one address"),
    ],
)
def test_a_recipient_without_a_usable_address_is_told_in_app_only(email: object, why: str) -> None:
    told, skipped = judge(TEAM, 2, email)
    assert skipped == []
    assert Recipient(TEAM, 2, None, why) in told


def test_uuid_keys_of_the_driver_s_own_type_match_the_teams_asked_for() -> None:
    class DriverUUID(uuid.UUID):  # asyncpg hands out a subclass of its own
        pass

    team, user = uuid.uuid4(), uuid.uuid4()
    out = sort_rows(
        COLUMNS, [(DriverUUID(int=team.int), DriverUUID(int=user.int), "a@x.test")], [team], "uuid"
    )
    assert out.of(team) == [Recipient(team, user, "a@x.test")]
    assert sort_rows(COLUMNS, [(team, 5, "a@x.test")], [team], "uuid").skipped == [
        SkippedRow(team, 5, "user_id is a number; user ids are uuid")
    ]


def test_columns_are_read_by_name_and_others_ignored() -> None:
    out = sort_rows(
        ("note", "email", "user_id", "team_id"), [("hi", "a@x.test", 3, TEAM)], [TEAM], "integer"
    )
    assert out.all() == [Recipient(TEAM, 3, "a@x.test")]


def test_a_query_without_a_required_column_is_an_error_naming_it() -> None:
    with pytest.raises(RecipientsQueryError, match="returns team_id, email; it must return"):
        sort_rows(("team_id", "email"), [], [TEAM], "integer")
