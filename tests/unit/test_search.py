"""The jobs list's ``q``: what each term means, the id-prefix range's bounds, and what is refused."""

from __future__ import annotations

import uuid

import pytest

from platform_jobs.jobs import search

JOB_ID = uuid.UUID("3f1c9a0e-5b7d-4e2a-9c8b-1d2e3f4a5b6c")


def test_terms_are_an_id_a_prefix_or_a_payload_field() -> None:
    parsed = search.parse(f"  {JOB_ID}   3F1C-9a0e project_id=abc  ")
    assert parsed is not None and parsed.text == f"{JOB_ID} 3F1C-9a0e project_id=abc"
    assert parsed.terms == (search.Term(job_id=JOB_ID), search.Term(prefix="3f1c9a0e"),
                            search.Term(field="project_id", value="abc"))
    assert search.parse("") is None and search.parse("   ") is None and search.parse(None) is None


def test_a_prefix_is_the_range_of_every_id_that_starts_with_it() -> None:
    condition = search.condition(search.Term(prefix="3f1c"))
    low, high = (clause.value for clause in condition.right.clauses)
    assert (low, high) == (uuid.UUID("3f1c0000-0000-0000-0000-000000000000"),
                           uuid.UUID("3f1cffff-ffff-ffff-ffff-ffffffffffff"))
    assert low <= JOB_ID <= high


def test_a_typed_value_also_matches_its_json_value() -> None:
    assert search._values("5") == ["5", 5]
    assert search._values("true") == ["true", True]
    assert search._values("abc") == ["abc"]
    assert search._values('"x"') == ['"x"']  # a JSON string is just text here


@pytest.mark.parametrize("text", ["abc", "xyz1", "3f1c9a0e5b7d4e2a9c8b1d2e3f4a5b6c0", "=v", "1a=v", "a-b=v", "k=",
                                  "k=" + "v" * 201, "a\tb\x00", " ".join(["k=v"] * 9), "x" * 501])
def test_anything_else_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(search.InvalidSearch, match="q"):
        search.parse(text)
