"""The batch sizing rule: toward the target time, within the minimum and maximum."""

from __future__ import annotations

import pytest

from jobs.batch_sizing import BatchSizer, next_batch_size


@pytest.mark.parametrize(
    ("size", "elapsed_ms", "target_ms", "minimum", "maximum", "expected"),
    [
        # On target: the same size.
        (1000, 500, 500, 100, 5000, 1000),
        # Twice as slow as the target: half the size.
        (1000, 1000, 500, 100, 5000, 500),
        # Ten times too slow: a tenth at once (a loaded host gets relief now).
        (1000, 5000, 500, 100, 5000, 100),
        # Far too slow: never below the minimum.
        (1000, 60_000, 500, 100, 5000, 100),
        # Faster than the target: larger, in proportion ...
        (1000, 400, 500, 100, 5000, 1250),
        # ... but at most twice as large per batch.
        (1000, 10, 500, 100, 5000, 2000),
        (1000, 0, 500, 100, 5000, 2000),
        # Never above the maximum.
        (4000, 10, 500, 100, 5000, 5000),
        # A small batch far under the target still grows (by at least one row).
        (1, 400, 500, 1, 5000, 2),
        # A minimum above the maximum is the maximum.
        (5, 60_000, 500, 100, 5, 5),
        (5, 1, 500, 100, 5, 5),
        # Minimum equal to maximum: a fixed size.
        (50, 1, 500, 50, 50, 50),
        (50, 9_000, 500, 50, 50, 50),
    ],
)
def test_next_batch_size(
    size: int, elapsed_ms: float, target_ms: int, minimum: int, maximum: int, expected: int
) -> None:
    got = next_batch_size(size, elapsed_ms, target_ms=target_ms, minimum=minimum, maximum=maximum)
    assert got == expected


def test_sizer_starts_at_the_minimum_and_doubles_toward_the_maximum() -> None:
    sizer = BatchSizer(target_ms=500, minimum=100, maximum=1000)
    sizes = [sizer.current()]
    for _ in range(5):
        sizer.observe(1.0)
        sizes.append(sizer.current())
    assert sizes == [100, 200, 400, 800, 1000, 1000]
    sizer.observe(2000.0)
    assert sizer.current() == 250


def test_sizer_minimum_is_capped_at_the_maximum() -> None:
    assert BatchSizer(target_ms=500, minimum=100, maximum=5).current() == 5
