"""Recurring schedules' ticks (jobs.schedule_times): cron in a time zone across DST changes, every_seconds,
and a missed stretch collapsing into one tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from platform_jobs.errors import InvalidJob
from platform_jobs.jobs.schedule_times import Spec, checked_spec, latest_tick, next_tick

BERLIN = ZoneInfo("Europe/Berlin")
NIGHTLY = Spec(cron="30 2 * * *", timezone="Europe/Berlin")


def _ticks(spec: Spec, start: datetime, count: int) -> list[datetime]:
    out, moment = [], start
    for _ in range(count):
        moment = next_tick(spec, moment)
        out.append(moment)
    return out


def _on(day: datetime, ticks: list[datetime]) -> list[datetime]:
    return [tick for tick in ticks if tick.astimezone(BERLIN).date() == day.date()]


def test_a_daily_0230_berlin_schedule_runs_once_on_the_spring_forward_day_after_the_gap() -> None:
    # 2026-03-29: clocks jump from 02:00 CET to 03:00 CEST; 02:30 does not exist that day.
    ticks = _ticks(NIGHTLY, datetime(2026, 3, 27, 12, tzinfo=UTC), 4)
    spring = _on(datetime(2026, 3, 29), ticks)
    assert len(spring) == 1
    assert spring[0] == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST: read with the offset before
    assert spring[0].astimezone(BERLIN).strftime("%H:%M %Z") == "03:30 CEST"
    # The days around it keep their 02:30 wall time, whichever offset is in force.
    assert ticks[0] == datetime(2026, 3, 28, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert ticks[2] == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert [tick.astimezone(BERLIN).day for tick in ticks] == [28, 29, 30, 31]


def test_a_daily_0230_berlin_schedule_runs_once_on_the_fall_back_day_at_the_first_0230() -> None:
    # 2026-10-25: clocks go back from 03:00 CEST to 02:00 CET; 02:30 happens twice that day.
    ticks = _ticks(NIGHTLY, datetime(2026, 10, 23, 12, tzinfo=UTC), 4)
    fall = _on(datetime(2026, 10, 25), ticks)
    assert fall == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC)]  # the first 02:30 (CEST), not the second
    assert ticks[-2] == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)  # 02:30 CET the next day
    # Asked from inside the repeated hour (02:10 CET, after the first 02:30), the answer is tomorrow.
    assert next_tick(NIGHTLY, datetime(2026, 10, 25, 1, 10, tzinfo=UTC)) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)


def test_ticks_across_the_gap_that_land_on_one_instant_make_one_tick() -> None:
    quarterly = Spec(cron="*/15 * * * *", timezone="Europe/Berlin")
    ticks = _ticks(quarterly, datetime(2026, 3, 29, 0, 50, tzinfo=UTC), 6)
    assert len(set(ticks)) == len(ticks)
    assert all(later > earlier for earlier, later in zip(ticks, ticks[1:], strict=False))
    assert all(later - earlier <= timedelta(minutes=15) for earlier, later in zip(ticks, ticks[1:], strict=False))


def test_a_missed_stretch_runs_once_at_its_latest_tick() -> None:
    hourly = Spec(cron="0 * * * *", timezone="UTC")
    since = datetime(2026, 5, 1, 1, 0, tzinfo=UTC)
    now = datetime(2026, 5, 1, 5, 20, tzinfo=UTC)  # 01:00, 02:00 ... 05:00 were all missed
    assert latest_tick(hourly, now, since) == datetime(2026, 5, 1, 5, 0, tzinfo=UTC)
    assert next_tick(hourly, now) == datetime(2026, 5, 1, 6, 0, tzinfo=UTC)
    assert latest_tick(hourly, datetime(2026, 5, 1, 0, 59, tzinfo=UTC), since) is None  # not due yet
    # Across the fall-back night, the nightly Berlin tick is the first 02:30, once.
    missed = latest_tick(NIGHTLY, datetime(2026, 10, 25, 6, 0, tzinfo=UTC), datetime(2026, 10, 24, 0, 30, tzinfo=UTC))
    assert missed == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_every_seconds_ticks_from_the_anchor() -> None:
    anchor = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
    spec = Spec(every_seconds=5, anchor=anchor)
    assert next_tick(spec, anchor) == anchor + timedelta(seconds=5)
    assert next_tick(spec, anchor + timedelta(seconds=7)) == anchor + timedelta(seconds=10)
    assert latest_tick(spec, anchor + timedelta(seconds=63), anchor + timedelta(seconds=5)) == \
        anchor + timedelta(seconds=60)


@pytest.mark.parametrize(("cron", "every", "zone", "problem"), [
    (None, None, "UTC", "either cron"),
    ("0 3 * * *", 60, "UTC", "either cron"),
    ("0 3 * *", None, "UTC", "five-field"),
    ("61 3 * * *", None, "UTC", "five-field"),
    ("0 3 31 2 *", None, "UTC", "no tick"),
    ("0 3 * * *", None, "Mars/Olympus", "unknown time zone"),
    (None, 0, "UTC", "every_seconds"),
    (None, True, "UTC", "every_seconds"),
])
def test_invalid_specs_are_refused_with_the_reason(cron: object, every: object, zone: str, problem: str) -> None:
    with pytest.raises(InvalidJob, match=problem):
        checked_spec(cron, every, zone)


def test_a_valid_spec_is_normalised() -> None:
    spec = checked_spec("30  2 * * *", None, "Europe/Berlin")
    assert spec.cron == "30 2 * * *" and spec.timezone == "Europe/Berlin"
