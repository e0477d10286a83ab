"""Benchmark phases that need the web app and the tenant domain (API latency, quota check)."""

from __future__ import annotations

from typing import Any


def extra_figures(figure: Any) -> list[Any]:
    return []
