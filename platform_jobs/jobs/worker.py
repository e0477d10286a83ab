"""Worker bootstrap and graceful shutdown.

Celery is the worker: ``celery -A platform_jobs worker`` consumes every family queue. On SIGTERM
(warm shutdown) running jobs finish and their outcome is written; reserved messages go back to
Redis unacknowledged, so their rows simply stay ``pending``. A process that dies anyway leaves a
lease that expires, and the reaper hands its job back.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from celery import signals
from sqlalchemy.engine import make_url

from platform_jobs.db import get_engine
from platform_jobs.errors import InsecureSecretKey
from platform_jobs.health import database_problem
from platform_jobs.jobs import db_clock
from platform_jobs.settings import get_settings, require_secret_key

log = logging.getLogger(__name__)

# EX_CONFIG from sysexits.h: a supervisor that restarts on failure still shows why in the log.
EXIT_DATABASE_UNUSABLE = 78


def _refuse_without_ledger(**_: Any) -> None:
    """Refuse to start rather than report "ready" and requeue every message once a second, forever."""
    url = get_settings().database.sqlalchemy_url
    problem = database_problem(url)
    if problem is None:
        return
    shown = make_url(url).render_as_string(hide_password=True)
    message = (f"platform_jobs worker cannot use the database {shown}: {problem}. "
               "Create the database if needed and run `platform-jobs migrate`, then start the worker again.")
    print(message, file=sys.stderr, flush=True)  # Celery's logging is not set up yet at worker_init
    # SystemExit passes through Celery's signal dispatch (it only catches Exception).
    raise SystemExit(EXIT_DATABASE_UNUSABLE)


def _refuse_insecure_secret_key(**_: Any) -> None:
    # Jobs decrypt stored webhook secrets with a key derived from SECRET_KEY. Celery logs and
    # swallows an Exception raised by a receiver, so the worker is stopped with SystemExit.
    try:
        require_secret_key(get_settings())
    except InsecureSecretKey as exc:
        log.critical("%s", exc)
        raise SystemExit(f"platform_jobs worker refuses to start: {exc}") from None


def _fresh_connections(**_: Any) -> None:
    get_engine()  # a new engine in each pool process, never the parent's sockets
    db_clock.warm()  # this host's offset to Postgres' clock, before the first job needs it


def _log_shutdown(sig: str | None = None, how: str | None = None, **_: Any) -> None:
    log.info("worker shutting down (%s, %s): running jobs finish, reserved ones return to the queue", sig, how)


# The outcomes a process still holds at shutdown are written by the run lifecycle's shutdown receivers
# (platform_jobs.jobs.lifecycle: worker_process_shutdown, worker_shutdown).
_HOOKS = (
    (signals.worker_init, _refuse_without_ledger, "pj_check_database"),
    (signals.worker_init, _refuse_insecure_secret_key, "pj_worker_init"),
    (signals.worker_process_init, _fresh_connections, "pj_process_init"),
    (signals.worker_ready, db_clock.warm, "pj_clock"),  # the main process converts messages' etas
    (signals.worker_shutting_down, _log_shutdown, "pj_shutting_down"),
)


def connect_worker_hooks() -> None:
    """Connect the worker's start-up checks and shutdown log (``create_celery`` does; idempotent)."""
    for signal, receiver, uid in _HOOKS:
        signal.connect(receiver, weak=False, dispatch_uid=uid)
