"""The rollup's histograms (percentiles from buckets) and the dashboard's SVG charts, without servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from platform_jobs.jobs import histogram
from platform_jobs.web import charts


def _hist(values: list[float]) -> list[int]:
    counts = histogram.empty()
    for value in values:
        counts[histogram.bucket_of(value)] += 1
    return counts


def test_percentiles_fall_in_the_bucket_of_the_true_value() -> None:
    values = [0.2] * 50 + [3.0] * 45 + [40.0] * 5
    hist = _hist(values)
    assert 0.1 <= histogram.percentile(hist, 50) <= 0.25  # type: ignore[operator]
    assert 2.5 <= histogram.percentile(hist, 95) <= 5.0  # type: ignore[operator]
    assert 25.0 <= histogram.percentile(hist, 99) <= 50.0  # type: ignore[operator]
    assert histogram.percentile(histogram.empty(), 50) is None
    assert histogram.percentile(_hist([10**6]), 50) == histogram.EDGES[-1]  # the open last bucket


def test_buckets_are_numbered_like_postgres_width_bucket_and_merge_by_adding() -> None:
    assert histogram.bucket_of(0.0) == 0 and histogram.bucket_of(histogram.EDGES[0]) == 1
    assert histogram.bucket_of(histogram.EDGES[-1]) == len(histogram.EDGES) == histogram.SIZE - 1
    merged = histogram.merged([_hist([1.0]), _hist([1.0, 30.0]), [], None])
    assert sum(merged) == 3 and merged[histogram.bucket_of(1.0)] == 2


def _points(count: int) -> list[dict[str, object]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [{"t": (start + timedelta(minutes=i)).isoformat(), "completed": i % 3, "failed": i % 2, "canceled": 0,
             "latency_p50": 0.5 if i % 4 else None, "latency_p95": 2.0 if i % 4 else None} for i in range(count)]


def test_charts_are_inline_svg_with_a_bar_per_outcome_and_gaps_in_the_latency_lines() -> None:
    points = _points(60)
    bars = str(charts.throughput(points, 60, "Throughput <last hour>"))
    assert bars.startswith("<svg") and "viewBox" in bars and "&lt;last hour&gt;" in bars and "http" not in bars
    assert bars.count('class="bar-completed"') == sum(1 for p in points if p["completed"])
    assert bars.count('class="bar-failed"') == sum(1 for p in points if p["failed"])
    lines = str(charts.latency(points, 60, "Latency"))
    assert lines.count('class="line-p50"') == 15  # every fourth point is empty: 15 runs of three
    assert str(charts.latency(_points(0), 60, "Empty")).startswith("<svg")
