"""What the jobs report as they go, for whoever watches (the worker's metrics).

The jobs call these hooks; the base class ignores every call, so a job run by a test or
by the CLI in-process needs no watcher.
"""

from __future__ import annotations


class Observer:
    """Hooks the jobs call; each does nothing here."""

    def batch_done(self, reference: str, rows: int, seconds: float) -> None:
        """A batch of a migration or deletion committed ``rows`` changes to ``reference``."""

    def delivery_done(self, channel: str, status: str) -> None:
        """A delivery attempt on ``channel`` ended ``delivered``, ``retrying`` or ``failed``."""
