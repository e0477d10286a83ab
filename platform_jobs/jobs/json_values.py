"""What a JSON value must be before Postgres stores it: not too deep, and text that ``jsonb`` takes.

Postgres refuses a NUL character (``\\u0000``) and an unpaired UTF-16 surrogate anywhere in a ``jsonb``
value, keys included, with an internal error at insert time; Python's ``json`` recurses once per level
and overflows on deep nesting. The queue core (every caller of ``enqueue_job``) and the web's body
check both ask :func:`storable_problem`, which walks the value with an explicit stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def text_problem(text: str) -> str | None:
    """Why Postgres cannot store this text, or None."""
    if "\x00" in text:
        return "NUL characters are not allowed"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "invalid unicode (lone surrogate)"
    return None


def storable_problem(value: Any, max_depth: int) -> str | None:
    """Why ``value`` cannot be stored as jsonb (something at a level deeper than ``max_depth``, the
    top-level value being level 1, or text Postgres refuses), or None."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            return f"nested deeper than {max_depth} levels"
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return problem
        elif isinstance(item, Mapping):
            for key, child in item.items():
                if isinstance(key, str) and (problem := text_problem(key)):
                    return f"key: {problem}"
                stack.append((child, depth + 1))
        elif isinstance(item, (list, tuple)):
            stack.extend((child, depth + 1) for child in item)
    return None
