"""The enqueue form's many-jobs mode: N copies of the job, or one job per line of pasted values.

The pasted list holds values of ONE payload field (say, a column of project ids copied from a
spreadsheet), not JSON payloads: the rest of the form stays as filled in, each line replaces that field,
and each value is read like the field's own input (a number, a choice, JSON for an object field). That is
the simpler of the two for a person: nothing to write by hand but the values. With copies above 1, each
line is enqueued that many times. Everything goes through the batch endpoint's core
(web/batch_views.enqueue_requests): all or nothing, every invalid line named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from platform_jobs.jobs.batch_enqueue import MAX_BATCH, InvalidBatch, Problem
from platform_jobs.jobs.flow_enqueue import Enqueued
from platform_jobs.jobs.queue import JobRequest
from platform_jobs.web import actions
from platform_jobs.web.auth import Principal
from platform_jobs.web.batch_views import enqueue_requests, problem_json
from platform_jobs.web.schema_form import FormError, TypeForm, convert

SHOWN = 5  # invalid lines named in the page's message (the rest are counted)


@dataclass(frozen=True)
class Many:
    """What the form asks for beyond one job: ``copies`` of each payload (one per pasted line, else one)."""

    copies: int
    field: str | None
    lines: list[str]

    @property
    def total(self) -> int:
        return self.copies * max(1, len(self.lines))


def many_of(type_form: TypeForm, form: Mapping[str, str]) -> Many | None:
    """The form's many-jobs request, or None for a single job."""
    text = (form.get("copies") or "").strip()
    try:
        copies = int(text) if text else 1
    except ValueError:
        raise FormError("copies must be a whole number") from None
    lines = [line.strip() for line in (form.get("per_line_values") or "").splitlines() if line.strip()]
    field = (form.get("per_line_field") or "").strip() or None
    if copies < 1:
        raise FormError("copies must be at least 1")
    if lines and field is None:
        raise FormError("choose the payload field that the pasted lines fill")
    if field is not None and lines and field not in {spec.name for spec in type_form.fields}:
        raise FormError(f"{type_form.name} has no payload field {field!r}")
    many = Many(copies, field if lines else None, lines)
    if many.total > MAX_BATCH:
        raise FormError(f"at most {MAX_BATCH} jobs at once, asked for {many.total}")
    return many if many.total > 1 or lines else None


def _payloads(type_form: TypeForm, payload: dict[str, Any], many: Many) -> list[dict[str, Any]]:
    if many.field is None:
        return [dict(payload)]
    spec = next(spec for spec in type_form.fields if spec.name == many.field)
    payloads = []
    for number, line in enumerate(many.lines, start=1):
        try:
            payloads.append({**payload, spec.name: convert(spec, line)})
        except FormError as exc:
            raise FormError(f"line {number}: {exc}") from None
    return payloads


def _message(exc: InvalidBatch, many: Many) -> str:
    """Problems by line (or copy) number: what a person can find in what they pasted."""
    unit = "line" if many.lines else "copy"
    parts = []
    for problem in exc.problems[:SHOWN]:
        position = problem.index // many.copies + 1 if many.lines else problem.index + 1
        parts.append(f"{unit} {position}: {problem_json(problem)['message']}")
    more = len(exc.problems) - SHOWN
    return f"{exc}. " + "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def enqueue_many(principal: Principal, type_form: TypeForm, payload: dict[str, Any], options: dict[str, Any],
                 many: Many) -> list[Enqueued]:
    """Every job of the form's many-jobs request, or none (FormError naming the invalid lines)."""
    requests: list[JobRequest | None] = []
    problems: list[Problem] = []
    known: set[Any] = set()
    for one in _payloads(type_form, payload, many):
        request = actions.job_request(principal, type_form.name, one, known_workspaces=known, **options)
        requests.extend([request] * many.copies)
    try:
        return enqueue_requests(requests, problems)
    except InvalidBatch as exc:
        raise FormError(_message(exc, many)) from None
