"""Retirement reminders: which milestone (days before the date) is due today.

Pure: the enrichment passes ``today`` (tests pass any day they like). Each milestone has
its own event key (model, date, milestone), so each is sent once; a moved date makes
new keys and the milestones start over; after downtime only the latest due milestone is
sent, never the burst of those missed.
"""

from __future__ import annotations

from datetime import date

DEFAULT_MILESTONES = (90, 30, 7, 1)


def due_milestone(today: date, when: date, milestones: tuple[int, ...]) -> int | None:
    """The smallest milestone that ``today`` has reached for a retirement on ``when``.

    ``None`` when the date has passed (that is a deprecation, not a reminder) or no
    milestone is reached yet. With milestones 90, 30, 7, 1: 45 days before → 90;
    29 days before → 30; 3 days before → 7; the day before → 1.
    """
    days_left = (when - today).days
    if days_left <= 0:
        return None
    reached = [m for m in milestones if days_left <= m]
    return min(reached) if reached else None
