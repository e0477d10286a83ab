"""The jobs list's ``q`` search: a job id, an id prefix, or payload fields (``project_id=…``).

Every term is turned into a condition an index can serve: a full id is the primary key; an id prefix is a
range on the uuid (``id BETWEEN <prefix>000… AND <prefix>fff…``), which the primary key's btree answers
without looking at other rows; a payload field is a jsonb containment (``payload @> {"field": value}``),
the operator a GIN index on ``payload`` serves. Several space-separated terms AND together.

The text comes from the client: anything that is none of these is refused with the reason (a 400), never
passed to SQL as text.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_

from platform_jobs.models import Job

MAX_TERMS = 8
MAX_QUERY = 500
MIN_PREFIX = 4  # shorter prefixes match too much of the table to be a search
FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
HEX_RE = re.compile(r"^[0-9a-f]+$")
MAX_VALUE = 200


class InvalidSearch(ValueError):
    """The search text is not a job id, an id prefix or field=value terms."""


@dataclass(frozen=True)
class Term:
    """One parsed term: exactly one of ``job_id``, ``prefix``, ``field``."""

    job_id: uuid.UUID | None = None
    prefix: str | None = None  # lowercase hex, 4 to 31 digits
    field: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class Search:
    text: str
    terms: tuple[Term, ...]


def _term(text: str) -> Term:
    if "=" in text:
        field, _, value = text.partition("=")
        if not FIELD_RE.match(field):
            raise InvalidSearch(f"q: {field[:40]!r} is not a payload field name (letters, digits, _)")
        if not value or len(value) > MAX_VALUE:
            raise InvalidSearch(f"q: the value of {field} must be 1 to {MAX_VALUE} characters")
        return Term(field=field, value=value)
    try:
        return Term(job_id=uuid.UUID(text))
    except ValueError:
        pass
    digits = text.replace("-", "").lower()
    if HEX_RE.match(digits) and MIN_PREFIX <= len(digits) < 32:
        return Term(prefix=digits)
    raise InvalidSearch(f"q: {text[:40]!r} is not a job id, an id prefix (at least {MIN_PREFIX} hex digits) "
                        "or field=value")


def parse(text: str | None) -> Search | None:
    """The parsed search, None for no search; InvalidSearch with the reason otherwise."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_QUERY:
        raise InvalidSearch(f"q is longer than {MAX_QUERY} characters")
    if not text.isprintable():
        raise InvalidSearch("q: control characters are not allowed")
    words = text.split()
    if len(words) > MAX_TERMS:
        raise InvalidSearch(f"q: at most {MAX_TERMS} terms")
    return Search(" ".join(words), tuple(_term(word) for word in words))


def _values(text: str) -> list[Any]:
    """The JSON values a typed ``field=value`` may mean: the string, and a number/boolean/null it spells."""
    values: list[Any] = [text]
    try:
        scalar = json.loads(text)
    except ValueError:
        return values
    if scalar is None or isinstance(scalar, (bool, int, float)):
        values.append(scalar)
    return values


def condition(term: Term) -> Any:
    if term.job_id is not None:
        return Job.id == term.job_id
    if term.prefix is not None:
        low = uuid.UUID(term.prefix.ljust(32, "0"))
        high = uuid.UUID(term.prefix.ljust(32, "f"))
        return Job.id.between(low, high)
    assert term.field is not None and term.value is not None
    return or_(*(Job.payload.contains({term.field: value}) for value in _values(term.value)))


def conditions(search: Search | None) -> Any:
    """One condition for the whole search (None: no search)."""
    if search is None:
        return None
    return and_(*(condition(term) for term in search.terms))
