"""The bulk publish's ``kwargsrepr`` header is the text Celery's saferepr writes, for any JSON payload."""

from __future__ import annotations

from typing import Any

from celery.utils.saferepr import saferepr
from hypothesis import given, settings
from hypothesis import strategies as st

from platform_jobs.jobs.bulk_publish import kwargs_repr

MAXLEN, LEVELS = 1024, 3  # Celery's kwargsrepr_maxsize and task_repr_maxlevels
text = st.text(st.characters(), max_size=40) | st.text("ab c'\\\"\n\té", max_size=20)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=12)


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(text, json_values, max_size=8))
def test_any_json_payload_gets_saferepr_text(payload: dict[str, Any]) -> None:
    assert kwargs_repr(payload, MAXLEN, LEVELS) == saferepr(payload, MAXLEN, maxlevels=LEVELS)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text("abc", min_size=1, max_size=8), st.text("xy z", min_size=200, max_size=400),
                       min_size=2, max_size=6))
def test_payloads_around_the_length_limit_are_truncated_like_saferepr(payload: dict[str, str]) -> None:
    assert kwargs_repr(payload, MAXLEN, LEVELS) == saferepr(payload, MAXLEN, maxlevels=LEVELS)


def test_flat_payloads_at_the_exact_limit() -> None:
    for size in range(1000, 1030):
        payload = {"k": "x" * size}
        assert kwargs_repr(payload, MAXLEN, LEVELS) == saferepr(payload, MAXLEN, maxlevels=LEVELS)
