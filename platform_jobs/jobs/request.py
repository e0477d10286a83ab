"""The worker-side request of a job message: Celery's, minus its memory of revoked ids.

A Celery worker remembers every revoked task id (``celery.worker.state.revoked``: 3 hours by default,
handed to new workers through mingle) and discards any later message with that id. For a job the id
is the job's id for its whole life, so a job canceled once and then retried would be discarded by
every worker that heard the revoke — and the ``task_revoked`` hook used to cancel the retried row.

The ledger already decides whether a job runs: the claim refuses a canceled, finished or running
job. So the revoked-id memory is never consulted for jobs: a job's id is forgotten when its message
arrives, and Celery's own check then only sees expiry and stamped-header revokes. ``cancel_job`` no
longer broadcasts revokes; this also covers revokes sent by others (``celery control revoke``,
Flower) and ids a worker learned through mingle.

A message's ``eta`` is a time of Postgres' clock (jobs.db_clock): the request hands Celery's timer the
same moment on this host's wall clock, so a host whose clock is off runs a delayed message on time.
"""

from __future__ import annotations

from datetime import datetime

from celery.worker import state as worker_state
from celery.worker.request import Request

from platform_jobs.jobs import db_clock


class LedgerRequest(Request):
    def revoked(self) -> bool:
        if not self._already_revoked:
            worker_state.revoked.discard(self.id)
        return bool(super().revoked())

    @property
    def eta(self) -> datetime | None:
        """The message's eta (Postgres' time) on this host's clock, which Celery's timer compares it with."""
        eta = super().eta
        return db_clock.to_local(eta) if isinstance(eta, datetime) else eta
