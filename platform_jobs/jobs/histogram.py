"""Fixed-bucket histograms of durations, the form in which the rollup keeps latencies and step times.

A histogram is a list of ``len(EDGES) + 1`` counts: bucket ``i`` holds durations in
``[EDGES[i-1], EDGES[i])`` (bucket 0 those below ``EDGES[0]``, the last those at or above ``EDGES[-1]``),
which is what Postgres's ``width_bucket(seconds, EDGES)`` numbers them. Histograms add up bucket by
bucket, so minutes merge into hours and workspaces into the whole platform; a percentile read from them
is an estimate (interpolated inside its bucket, at most one bucket wide off: 2 to 2.5 x).

The edges are part of the stored data: never change them (add a new column with new edges instead).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# Seconds, 1-2.5-5 per decade from 5 ms to about a day.
EDGES: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0,
    1000.0, 2500.0, 5000.0, 10000.0, 25000.0, 50000.0, 100000.0,
)
SIZE = len(EDGES) + 1


def empty() -> list[int]:
    return [0] * SIZE


def add(total: list[int], other: Sequence[int] | None) -> list[int]:
    """Add ``other`` into ``total`` (in place; a missing or short histogram adds nothing for its gaps)."""
    for index, count in enumerate(other or ()):
        if index < SIZE:
            total[index] += count
    return total


def merged(histograms: Iterable[Sequence[int] | None]) -> list[int]:
    total = empty()
    for histogram in histograms:
        add(total, histogram)
    return total


def bucket_of(seconds: float) -> int:
    """The bucket of a duration, as width_bucket numbers it."""
    index = 0
    while index < len(EDGES) and seconds >= EDGES[index]:
        index += 1
    return index


def percentile(histogram: Sequence[int], pct: float) -> float | None:
    """The ``pct`` percentile (0-100) of the durations counted, or None when there are none.

    Linear inside the bucket that holds the rank; the open last bucket answers its lower edge."""
    count = sum(histogram)
    if count == 0:
        return None
    rank = max(1.0, pct / 100 * count)
    seen = 0
    for index, bucket_count in enumerate(histogram):
        if bucket_count and seen + bucket_count >= rank:
            low = EDGES[index - 1] if index > 0 else 0.0
            if index >= len(EDGES):
                return low
            high = EDGES[index]
            return low + (high - low) * (rank - seen) / bucket_count
        seen += bucket_count
    return EDGES[-1]
