"""RedBeat's schedule entries for the console: list them, enable or disable one.

An entry lives in Redis (RedBeat: a hash ``<prefix><name>`` with its JSON definition and meta, and its
due time in the ``<prefix>:schedule`` sorted set). Loading and saving go through RedBeat's own
``RedBeatSchedulerEntry.from_key`` / ``save``; a disabled entry stays in the schedule and RedBeat's
``is_due`` skips it. The beat_schedule entries of celery_config are stored again at every beat start;
:class:`platform_jobs.jobs.beat.PlatformBeatScheduler` keeps their ``enabled`` flag across that.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redbeat.schedulers import RedBeatSchedulerEntry, ensure_conf, get_redis
from sqlalchemy import text
from sqlalchemy.orm import Session

from platform_jobs.errors import Conflict, NotFound

MADE_WITHIN = timedelta(minutes=2)  # a job of the entry's type created this close to its last run


class UnknownEntry(NotFound):
    """No such schedule entry"""


class EntryStateConflict(Conflict):
    """The entry is already in that state"""


@dataclass(frozen=True)
class Entry:
    name: str
    task: str
    schedule: str
    enabled: bool
    next_run: datetime | None
    last_run: datetime | None
    total_runs: int
    queue: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "task": self.task, "schedule": self.schedule, "enabled": self.enabled,
                "next_run": _iso(self.next_run), "last_run": _iso(self.last_run), "total_runs": self.total_runs,
                "queue": self.queue}


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _load(app: Any, key: str) -> RedBeatSchedulerEntry:
    return RedBeatSchedulerEntry.from_key(key, app=app)


def _entry(raw: RedBeatSchedulerEntry) -> Entry:
    next_run = raw.due_at if raw.enabled else None
    return Entry(name=raw.name, task=raw.task, schedule=str(raw.schedule), enabled=bool(raw.enabled),
                 next_run=next_run, last_run=raw.last_run_at, total_runs=int(raw.total_run_count or 0),
                 queue=(raw.options or {}).get("queue"))


def list_entries(app: Any) -> list[Entry]:
    """Every entry in RedBeat's schedule, by name."""
    ensure_conf(app)
    keys = get_redis(app).zrange(app.redbeat_conf.schedule_key, 0, -1)
    entries = []
    for key in keys:
        try:
            entries.append(_entry(_load(app, key)))
        except KeyError:  # removed between the two reads
            continue
    return sorted(entries, key=lambda entry: entry.name)


def get_entry(app: Any, name: str) -> RedBeatSchedulerEntry:
    ensure_conf(app)
    key = RedBeatSchedulerEntry.generate_key(app, name)
    if not get_redis(app).zscore(app.redbeat_conf.schedule_key, key):
        raise UnknownEntry(f"no schedule entry named {name!r}")
    try:
        return _load(app, key)
    except KeyError:
        raise UnknownEntry(f"no schedule entry named {name!r}") from None


def set_enabled(app: Any, name: str, enabled: bool) -> Entry:
    """Enable or disable an entry (RedBeat's ``enabled`` attribute, saved with RedBeat's ``save``)."""
    raw = get_entry(app, name)
    if bool(raw.enabled) == enabled:
        raise EntryStateConflict(f"schedule entry {name!r} is already {'enabled' if enabled else 'disabled'}")
    raw.enabled = enabled
    raw.save()
    return _entry(raw)


_MADE = text("""
SELECT id, status FROM control_plane.jobs
WHERE type = :type AND created_at BETWEEN :since AND :until
ORDER BY created_at DESC, id DESC LIMIT 1
""")


def job_made(session: Session, entry: Entry) -> dict[str, Any] | None:
    """The ledger's job of the entry's last run, when the task is a job type (its row is written by the
    publish hook when beat sends it): the newest job of that type created around the last run."""
    from platform_jobs.jobs.registry import job_type_for_task

    job_type = job_type_for_task(entry.task)
    if entry.last_run is None or job_type is None:
        return None
    last = entry.last_run if entry.last_run.tzinfo else entry.last_run.replace(tzinfo=UTC)
    window = {"type": job_type.name, "since": last - MADE_WITHIN, "until": last + MADE_WITHIN}
    row = session.execute(_MADE, window).first()
    if row is None:
        return None
    return {"id": str(uuid.UUID(str(row.id))), "status": getattr(row.status, "value", row.status)}
