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
"""

from __future__ import annotations

from celery.worker import state as worker_state
from celery.worker.request import Request


class LedgerRequest(Request):
    def revoked(self) -> bool:
        if not self._already_revoked:
            worker_state.revoked.discard(self.id)
        return bool(super().revoked())
