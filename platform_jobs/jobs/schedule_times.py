"""When a recurring schedule's ticks fall: a cron expression read in a time zone, or every N seconds.

Cron expressions are parsed and iterated by croniter (pallets-eco, maintained) on the *wall clock* of the
schedule's zone (naive local times); each wall time is then placed in the zone with :mod:`zoneinfo`. This
decides daylight-saving changes explicitly instead of leaving them to a library's guess:

- a wall time that does not exist (spring forward: 02:30 in Europe/Berlin on the last Sunday of March)
  is read with the offset in force before the change (PEP 495, ``fold=0``): it runs at 03:30 summer time,
  once that day;
- a wall time that happens twice (fall back: 02:30 on the last Sunday of October) runs once, at its first
  occurrence (``fold=0``, summer time);
- several wall times that land on one instant (every 15 minutes across the gap) make one tick.

``every_seconds`` ticks are ``anchor + k * seconds`` (the anchor is the schedule's creation): no zone.
A schedule missed for a while (beat was down) runs *once*, at its latest tick not after now
(:func:`latest_tick`), never once per missed tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from platform_jobs.errors import InvalidJob
from platform_jobs.jobs.db_clock import db_now

MIN_EVERY_SECONDS = 1  # sub-minute specs exist for tests and drills; cron's finest step is a minute
MAX_EVERY_SECONDS = 366 * 24 * 3600
MAX_STEPS = 1000  # wall times tried for one answer (a cron expression that matches nothing stops here)


@dataclass(frozen=True)
class Spec:
    """A schedule's timing: ``cron`` (five fields) in ``timezone``, or ``every_seconds`` from ``anchor``."""

    cron: str | None = None
    every_seconds: int | None = None
    timezone: str = "UTC"
    anchor: datetime | None = None  # every_seconds only

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def describe(self) -> str:
        if self.every_seconds is not None:
            return f"every {self.every_seconds} s"
        return f"cron {self.cron} ({self.timezone})"


def checked_spec(cron: object, every_seconds: object, timezone: object, anchor: datetime | None = None) -> Spec:
    """The spec of a request, or InvalidJob saying what is wrong."""
    if (cron is None) == (every_seconds is None):
        raise InvalidJob("give either cron (five fields, e.g. '0 3 * * *') or every_seconds, not both")
    if not isinstance(timezone, str) or not timezone:
        raise InvalidJob("timezone must be an IANA zone name such as 'Europe/Berlin'")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidJob(f"unknown time zone {timezone!r}; use an IANA name such as 'Europe/Berlin'") from None
    if every_seconds is not None:
        if (isinstance(every_seconds, bool) or not isinstance(every_seconds, int)
                or not MIN_EVERY_SECONDS <= every_seconds <= MAX_EVERY_SECONDS):
            raise InvalidJob(f"every_seconds must be a whole number from {MIN_EVERY_SECONDS} to {MAX_EVERY_SECONDS}")
        return Spec(every_seconds=every_seconds, timezone=timezone, anchor=anchor or db_now())
    if not isinstance(cron, str) or len(cron) > 120 or len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise InvalidJob("cron must be a valid five-field expression (minute hour day month weekday), "
                         "e.g. '30 2 * * *'")
    spec = Spec(cron=" ".join(cron.split()), timezone=timezone)
    next_tick(spec, db_now())  # an expression that never matches (31 February) is refused here
    return spec


def _placed(wall: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall time in ``zone`` as a UTC instant (fold=0: see the module's docstring)."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def next_tick(spec: Spec, after: datetime) -> datetime:
    """The first tick strictly after ``after`` (aware), as a UTC instant."""
    if spec.every_seconds is not None:
        anchor = spec.anchor or after
        steps = (after - anchor).total_seconds() // spec.every_seconds + 1
        return (anchor + timedelta(seconds=max(steps, 0) * spec.every_seconds)).astimezone(UTC)
    zone = spec.zone
    # Start an hour of wall time early: in a repeated hour the wall clock of ``after`` may be ahead of a
    # wall time whose (fold=0) instant is still to come.
    walls = croniter(spec.cron, _wall(after, zone) - timedelta(hours=1))
    try:
        for _ in range(MAX_STEPS):
            candidate = _placed(walls.get_next(datetime), zone)
            if candidate > after:
                return candidate
    except CroniterBadDateError:  # croniter's own search gave up (31 February)
        pass
    raise InvalidJob(f"the cron expression {spec.cron!r} has no tick after {after.isoformat()}")


def latest_tick(spec: Spec, now: datetime, since: datetime) -> datetime | None:
    """The latest tick in ``[since, now]``, or None when none is due: what one materialisation runs."""
    if spec.every_seconds is not None:
        anchor = spec.anchor or since
        steps = (now - anchor).total_seconds() // spec.every_seconds
        tick = (anchor + timedelta(seconds=steps * spec.every_seconds)).astimezone(UTC)
        return tick if since <= tick <= now else None
    zone = spec.zone
    walls = croniter(spec.cron, _wall(now, zone) + timedelta(hours=1, microseconds=1))
    try:
        for _ in range(MAX_STEPS):
            candidate = _placed(walls.get_prev(datetime), zone)
            if candidate < since:
                return None
            if candidate <= now:
                return candidate
    except CroniterBadDateError:
        pass
    return None
