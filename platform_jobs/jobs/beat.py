"""RedBeat, made to survive a Redis that restarted or lost its data.

RedBeat keeps its lock and the schedule in Redis. After a restart without persistence both are gone:
stock RedBeat then fails to extend its lock and never sees the static schedule again, so the
maintenance sweep (which republishes what Redis lost) would stop. This scheduler re-registers the
static schedule when its key is missing and takes the lock again (blocking, as at startup, so a
standby beat never ticks while another holds it).
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import redis
from redbeat import RedBeatScheduler
from redbeat.schedulers import acquire_distributed_beat_lock, get_redis

log = logging.getLogger(__name__)


class PlatformBeatScheduler(RedBeatScheduler):
    def tick(self, min: Any = min, **kwargs: Any) -> float:
        try:
            client = get_redis(self.app)
            if not client.exists(self.app.redbeat_conf.statics_key):
                log.warning("beat: the schedule is gone from Redis; registering it again")
                self.setup_schedule()
            return float(super().tick(min=min, **kwargs))
        except (redis.exceptions.LockError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            log.warning("beat: lost Redis state (%s); taking the lock again", exc)
            try:
                acquire_distributed_beat_lock(sender=SimpleNamespace(scheduler=self))
            except Exception as again:
                log.warning("beat: Redis still unavailable: %s", again)
            return float(self.max_interval)
