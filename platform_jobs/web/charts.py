"""Server-drawn SVG charts of the dashboard (no chart library, nothing fetched from elsewhere).

Each function takes the ``points`` of one series of ``GET /api/stats`` and returns inline SVG markup
that scales to its container (``viewBox``; 390 px wide screens included). Colours come from app.css
classes, so the charts follow the page's theme.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT = 600, 150
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 22
STACK = ("completed", "failed", "canceled")


def _nice(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1.0
    scale = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * scale:
            return step * scale
    return 10.0 * scale


def _label(iso: str, bucket_seconds: int) -> str:
    moment = datetime.fromisoformat(iso)
    return moment.strftime("%H:%M") if bucket_seconds < 86400 else moment.strftime("%m-%d")


def _frame(title: str, top: float, unit: str, points: Sequence[dict[str, Any]], bucket_seconds: int) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [f'<title>{escape(title)}</title>']
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        value = top * fraction
        text = f"{value:g}{unit}" if value < 10 else f"{value:,.0f}{unit}"
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{escape(text)}</text>')
    if points:
        for index, anchor in ((0, "start"), (len(points) // 2, "middle"), (len(points) - 1, "end")):
            x = LEFT + (WIDTH - LEFT - RIGHT) * (index + 0.5) / len(points)
            parts.append(f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}">'
                         f'{escape(_label(points[index]["t"], bucket_seconds))}</text>')
    return parts


def _svg(kind: str, label: str, parts: list[str]) -> Markup:
    body = "".join(parts)
    return Markup(f'<svg class="chart chart-{kind}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
                  f'aria-label="{escape(label)}" preserveAspectRatio="xMidYMid meet">{body}</svg>')


def throughput(points: Sequence[dict[str, Any]], bucket_seconds: int, title: str) -> Markup:
    """Stacked bars: completed, failed and canceled jobs per bucket."""
    top = _nice(max((sum(p[k] for k in STACK) for p in points), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = _frame(title, top, "", points, bucket_seconds)
    width = plot_w / max(1, len(points))
    for index, point in enumerate(points):
        base = TOP + plot_h
        x = LEFT + index * width
        for key in STACK:
            if point[key]:
                h = plot_h * point[key] / top
                base -= h
                parts.append(f'<rect class="bar-{key}" x="{x + width * 0.1:.1f}" y="{base:.1f}" '
                             f'width="{width * 0.8:.1f}" height="{h:.1f}"><title>{escape(point["t"])}: '
                             f'{point[key]} {key}</title></rect>')
    return _svg("throughput", title, parts)


def latency(points: Sequence[dict[str, Any]], bucket_seconds: int, title: str) -> Markup:
    """Two lines: p50 and p95 of the queue latency per bucket (gaps where nothing started)."""
    values = [p[k] for p in points for k in ("latency_p50", "latency_p95") if p[k] is not None]
    top = _nice(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = _frame(title, top, " s", points, bucket_seconds)
    for key in ("latency_p95", "latency_p50"):
        segment: list[str] = []
        for index, point in enumerate(points + [{key: None}]):  # type: ignore[operator]
            if point.get(key) is None:
                if segment:
                    parts.append(f'<polyline class="line-{key[8:]}" points="{" ".join(segment)}"/>')
                segment = []
                continue
            x = LEFT + plot_w * (index + 0.5) / len(points)
            y = TOP + plot_h * (1 - min(1.0, point[key] / top))
            segment.append(f"{x:.1f},{y:.1f}")
            parts.append(f'<circle class="dot-{key[8:]}" cx="{x:.1f}" cy="{y:.1f}" r="2"><title>'
                         f'{escape(point["t"])}: {key[8:]} {point[key]} s</title></circle>')
    return _svg("latency", title, parts)


def charts(finished: dict[str, Any]) -> dict[str, Markup]:
    """The four charts of the dashboard from the ``finished`` part of /api/stats."""
    hour, day = finished["hour"], finished["day"]
    return {
        "hour_throughput": throughput(hour["points"], hour["bucket_seconds"], "Finished jobs per minute, last hour"),
        "hour_latency": latency(hour["points"], hour["bucket_seconds"], "Queue latency p50/p95 per minute, last hour"),
        "day_throughput": throughput(day["points"], day["bucket_seconds"], "Finished jobs per 15 minutes, last day"),
        "day_latency": latency(day["points"], day["bucket_seconds"], "Queue latency p50/p95 per 15 minutes, last day"),
    }
