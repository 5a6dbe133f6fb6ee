"""How big a request's next batch is, and how long it waits before it (gentle on the host).

Batches size themselves toward a target time: a batch that took less than the target is
followed by a larger one (at most twice as large), one that took longer by one smaller in
proportion — a host under load gets smaller batches at once, and growth is cautious.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from jobs.config import JobConfig

# A batch is at most this many times the size of the one before.
MAX_GROWTH = 2.0


def next_batch_size(
    size: int, elapsed_ms: float, *, target_ms: int, minimum: int, maximum: int
) -> int:
    """The size of the batch after one of ``size`` rows that took ``elapsed_ms``.

    Scaled by ``target_ms / elapsed_ms`` (at most :data:`MAX_GROWTH`), kept between
    ``minimum`` and ``maximum`` (a minimum above the maximum is the maximum).
    """
    low = min(minimum, maximum)
    factor = MAX_GROWTH if elapsed_ms <= 0 else min(target_ms / elapsed_ms, MAX_GROWTH)
    wanted = int(size * factor)
    if factor > 1:
        wanted = max(wanted, size + 1)  # a batch far under the target always grows
    return max(low, min(maximum, wanted))


@dataclass
class BatchSizer:
    """The batch sizes of one reference's batches: the first is the minimum."""

    target_ms: int
    minimum: int
    maximum: int
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = min(self.minimum, self.maximum)

    @classmethod
    def of(cls, config: JobConfig) -> BatchSizer:
        return cls(config.batch_target_ms, config.batch_min, config.batch_size)

    def current(self) -> int:
        """The size of the next batch."""
        return self.size

    def observe(self, elapsed_ms: float) -> None:
        """A batch of the current size took ``elapsed_ms``: size the next one."""
        self.size = next_batch_size(
            self.size,
            elapsed_ms,
            target_ms=self.target_ms,
            minimum=self.minimum,
            maximum=self.maximum,
        )


@dataclass
class BatchPause:
    """The wait between a request's batches (none before its run's first batch)."""

    pause_ms: int
    started: bool = False

    async def before_batch(self) -> None:
        if self.started and self.pause_ms > 0:
            await asyncio.sleep(self.pause_ms / 1000)
        self.started = True
