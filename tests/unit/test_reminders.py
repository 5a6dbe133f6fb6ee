"""Which reminder milestone is due: a table of days left → milestone."""

from datetime import date, timedelta

import pytest

from jobs.reminders import DEFAULT_MILESTONES, due_milestone

WHEN = date(2027, 3, 1)


@pytest.mark.parametrize(
    ("days_left", "milestone"),
    [
        (365, None),
        (91, None),
        (90, 90),
        (45, 90),
        (31, 90),
        (30, 30),
        (8, 30),
        (7, 7),
        (2, 7),
        (1, 1),
        (0, None),
        (-5, None),
    ],
)
def test_due_milestone(days_left: int, milestone: int | None) -> None:
    today = WHEN - timedelta(days=days_left)
    assert due_milestone(today, WHEN, DEFAULT_MILESTONES) == milestone


def test_custom_milestones() -> None:
    assert due_milestone(WHEN - timedelta(days=10), WHEN, (14,)) == 14
    assert due_milestone(WHEN - timedelta(days=20), WHEN, (14,)) is None
