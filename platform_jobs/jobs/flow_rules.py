"""Flow rules of a job type: a concurrency rule (slots per key) and a rate limit (starts per period per key).

A rule names its key with a template over the job's fields: ``project:{project_id}``,
``workspace:{workspace_id}``, ``endpoint:{endpoint_id}``. A field is looked up in the row first (its
``project_id`` and ``workspace_id``, which authority decided), then in the enqueue's ``key_fields`` (ids a
trusted caller knows but the payload does not carry), then in the payload. A job whose template names a
field it does not have is not under that rule (a ``deploy`` enqueued without a project takes no project
slot).

What the rule makes of one job is a :class:`Flow` (rendered keys and limits), stored on its row: the
ledger's admission (``control_plane.flow_admit``, migration 0010) reads it from there, so a retry, the
reaper and the sweep all apply the same rule the enqueue did.
"""

from __future__ import annotations

import enum
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from platform_jobs.errors import InvalidJob

MAX_KEY_CHARS = 200
MAX_LIMIT = 10_000


class Strategy(enum.StrEnum):
    """What a job does when every slot of its key is held."""

    QUEUE = "queue"  # waits in the ledger; slots go by priority, then first come first served
    ROUND_ROBIN = "round_robin"  # slots go in turn to the values of a second key (fair share per group)
    SUPERSEDE = "supersede"  # at most one waiting job (of its type) per key: a newer one cancels it
    CANCEL_IN_PROGRESS = "cancel_in_progress"  # a newer job stops the older ones and takes their slot


def template_fields(template: str) -> list[str]:
    """The field names of a key template; InvalidJob for anything but plain ``{name}`` fields."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InvalidJob(f"invalid key template {template!r}: {exc}") from None
    fields = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise InvalidJob(f"key template {template!r}: only plain {{name}} fields are allowed")
        fields.append(name)
    return fields


def render(template: str, fields: Mapping[str, Any]) -> str | None:
    """The key for these fields; None when a field the template names is missing (or null)."""
    values = {}
    for name in template_fields(template):
        value = fields.get(name)
        if value is None or value == "":
            return None
        values[name] = str(value)
    key = template.format(**values)
    if len(key) > MAX_KEY_CHARS:
        raise InvalidJob(f"a flow key is at most {MAX_KEY_CHARS} characters; {template!r} made {len(key)}")
    return key


def _check_limit(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT):
        raise InvalidJob(f"{name} must be an integer from 1 to {MAX_LIMIT}, got {value!r}")


@dataclass(frozen=True)
class ConcurrencyRule:
    """At most ``limit`` jobs of one key hold a slot (are released to the broker, or running) at a time."""

    key: str  # template, e.g. "project:{project_id}"
    limit: int = 1
    strategy: Strategy = Strategy.QUEUE
    # round_robin: the second key whose values take turns (e.g. "workspace:{workspace_id}"), and the
    # most slots one of its values may hold at a time (None: up to ``limit``).
    group: str | None = None
    group_limit: int | None = None

    def __post_init__(self) -> None:
        template_fields(self.key)
        _check_limit("limit", self.limit)
        _check_limit("group_limit", self.group_limit)
        if self.group is not None:
            template_fields(self.group)
        if (self.group is not None) != (self.strategy is Strategy.ROUND_ROBIN):
            raise InvalidJob("a group key goes with the round_robin strategy, and round_robin needs one")


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` jobs of one key start per ``period`` seconds (any window of that length)."""

    key: str  # template, e.g. "workspace:{workspace_id}"
    limit: int
    period: float

    def __post_init__(self) -> None:
        template_fields(self.key)
        _check_limit("limit", self.limit)
        if not self.period > 0:
            raise InvalidJob(f"a rate limit's period must be > 0 seconds, got {self.period!r}")


@dataclass(frozen=True)
class Flow:
    """The rules as they apply to one job: rendered keys and their limits (stored on its row)."""

    concurrency_key: str | None = None
    concurrency_limit: int | None = None
    strategy: Strategy | None = None
    group: str | None = None
    group_limit: int | None = None
    rate_key: str | None = None
    rate_limit: int | None = None
    rate_period: float | None = None

    @property
    def waits_for(self) -> str:
        """Where a new job of this flow starts: waiting for its slot, or for its rate-limit turn."""
        return "slot" if self.concurrency_key is not None else "rate_limit"


def flow_of(
    concurrency: ConcurrencyRule | None,
    rate_limit: RateLimit | None,
    fields: Mapping[str, Any],
    *,
    key_override: str | None = None,
    limit_override: int | None = None,
) -> Flow | None:
    """What the type's rules (and an enqueue's override of the concurrency key/limit) make of one job."""
    _check_limit("concurrency_limit", limit_override)
    rule = concurrency
    if key_override is not None:
        rule = ConcurrencyRule(key_override, limit_override or (rule.limit if rule else 1),
                               rule.strategy if rule else Strategy.QUEUE,
                               rule.group if rule else None, rule.group_limit if rule else None)
    elif rule is not None and limit_override is not None:
        rule = ConcurrencyRule(rule.key, limit_override, rule.strategy, rule.group, rule.group_limit)
    concurrency_key = render(rule.key, fields) if rule is not None else None
    rate_key = render(rate_limit.key, fields) if rate_limit is not None else None
    if concurrency_key is None and rate_key is None:
        return None
    flow = Flow(rate_key=rate_key, rate_limit=rate_limit.limit if rate_key and rate_limit else None,
                rate_period=rate_limit.period if rate_key and rate_limit else None)
    if rule is not None and concurrency_key is not None:
        flow = Flow(concurrency_key, rule.limit, rule.strategy,
                    render(rule.group, fields) if rule.group else None, rule.group_limit,
                    flow.rate_key, flow.rate_limit, flow.rate_period)
    return flow


def key_fields(payload: Mapping[str, Any], extra: Mapping[str, Any] | None,
               workspace_id: Any, project_id: Any, job_type: str) -> dict[str, Any]:
    """The fields a key template may name: the row's own first, then the caller's, then the payload's."""
    fields: dict[str, Any] = dict(payload)
    fields.update(extra or {})
    fields["type"] = job_type
    if workspace_id is not None:
        fields["workspace_id"] = workspace_id
    if project_id is not None:
        fields["project_id"] = project_id
    return fields
