"""RedBeat, made to survive a Redis that restarted or lost its data, and the home of the maintenance sweep.

RedBeat keeps its lock and the schedule in Redis. After a restart without persistence both are gone:
stock RedBeat then fails to extend its lock and never sees the static schedule again, so the
maintenance sweep (which republishes what Redis lost) would stop. This scheduler re-registers the
static schedule when its key is missing and takes the lock again (blocking, as at startup, so a
standby beat never ticks while another holds it).

The maintenance sweep runs here, in the beat process, not as a Celery task: a task every few seconds
filled Flower's task list and the task events with sweeps. Only the beat holding the RedBeat lock
ticks, so there is one sweeper; the sweep's own row locks (SKIP LOCKED) keep a second one (a former
lock holder finishing its sweep, ``platform-jobs sweep`` by hand) harmless.

Workspaces' recurring schedules (jobs/schedule_runs.py) are materialised here too, every second, by the
lock holder; their exactly-once comes from a key per (schedule, tick) in Postgres, not from the lock.
"""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from typing import Any

import redis
from redbeat import RedBeatScheduler
from redbeat.schedulers import acquire_distributed_beat_lock, get_redis

from platform_jobs.jobs import schedule_runs
from platform_jobs.jobs.maintenance import sweep
from platform_jobs.settings import get_settings

log = logging.getLogger(__name__)

# beat_schedule entries of former releases. RedBeat forgets a removed static entry only if its name is
# in the statics set; these are deleted from Redis at every start whatever that set says, so an old
# deployment's entry never keeps sending a task nobody schedules any more.
RETIRED_ENTRIES = ("maintenance-sweep",)


class PlatformBeatScheduler(RedBeatScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sweep_interval = get_settings().runs.sweep_interval
        self._next_sweep = 0.0  # time.monotonic(); the first tick sweeps
        self._failed_sweeps = 0  # in a row: the traceback is logged once per streak
        self._next_schedules = 0.0  # time.monotonic() of the next look at the recurring schedules
        super().__init__(*args, **kwargs)

    def setup_schedule(self) -> None:
        super().setup_schedule()
        client = get_redis(self.app)
        for name in RETIRED_ENTRIES:
            if name in self.app.redbeat_conf.schedule:
                continue
            entry = self.Entry(name, app=self.app)
            if client.exists(entry.key):
                log.info("beat: removing the retired schedule entry %r", name)
            entry.delete()
            client.srem(self.app.redbeat_conf.statics_key, name)

    def update_from_dict(self, dict_: dict[str, Any]) -> None:
        """RedBeat stores the static entries again at every start, enabled; an entry an operator disabled
        (the schedules page, jobs/beat_entries.py) stays disabled."""
        disabled = []
        for name in dict_:
            try:
                stored = self.Entry.from_key(self.Entry.generate_key(self.app, name), app=self.app)
            except KeyError:
                continue
            if not stored.enabled:
                disabled.append(name)
        super().update_from_dict(dict_)
        for name in disabled:
            entry = self.Entry.from_key(self.Entry.generate_key(self.app, name), app=self.app)
            entry.enabled = False
            entry.save()

    def tick(self, min: Any = min, **kwargs: Any) -> float:
        try:
            client = get_redis(self.app)
            if not client.exists(self.app.redbeat_conf.statics_key):
                log.warning("beat: the schedule is gone from Redis; registering it again")
                self.setup_schedule()
            # RedBeat's tick extends the lock first: past it, this beat is the lock holder.
            interval = float(super().tick(min=min, **kwargs))
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            if self.lock is not None:
                # Our lock may have survived (a Sentinel failover promotes a replica that holds it): the
                # next tick extends it with our token, or takes it again if it is gone. Taking it now
                # with a new token would wait for our own lock to expire.
                log.warning("beat: Redis unavailable (%s); trying again", exc)
                return float(self.max_interval)
            self._take_lock_again(exc)
            return float(self.max_interval)
        except redis.exceptions.LockError as exc:
            self._take_lock_again(exc)
            return float(self.max_interval)
        return float(min(interval, self.sweep_when_due(), self.schedules_when_due()))

    def _take_lock_again(self, exc: Exception) -> None:
        log.warning("beat: lost Redis state (%s); taking the lock again", exc)
        try:
            acquire_distributed_beat_lock(sender=SimpleNamespace(scheduler=self))
        except Exception as again:
            log.warning("beat: Redis still unavailable: %s", again)

    def schedules_when_due(self) -> float:
        """Materialise the workspaces' due schedule ticks (every POLL_SECONDS); the seconds until the next look."""
        if time.monotonic() >= self._next_schedules:
            self._next_schedules = time.monotonic() + schedule_runs.POLL_SECONDS
            schedule_runs.materialise_quietly()
        return max(0.0, self._next_schedules - time.monotonic())

    def sweep_when_due(self) -> float:
        """Run the maintenance sweep if its time came; the seconds until the next one."""
        started = time.monotonic()
        if started >= self._next_sweep:
            # The cadence of the former beat entry: one sweep per interval, counted from the start of
            # the last one; a sweep slower than the interval is followed by the next at once.
            self._next_sweep = started + self.sweep_interval
            self._sweep_logged()
        return max(0.0, self._next_sweep - time.monotonic())

    def _sweep_logged(self) -> None:
        """One sweep; an error (Postgres down, say) is logged and never stops beat."""
        started = time.monotonic()
        try:
            sweep()
        except Exception as exc:
            self._failed_sweeps += 1
            if self._failed_sweeps == 1:
                log.exception("maintenance sweep failed; trying again every %.1f s", self.sweep_interval)
            else:
                log.warning("maintenance sweep failed (%d in a row): %s", self._failed_sweeps, exc)
            return
        if self._failed_sweeps:
            log.info("maintenance sweep works again after %d failures", self._failed_sweeps)
            self._failed_sweeps = 0
        log.debug("maintenance sweep took %.0f ms", (time.monotonic() - started) * 1000)
