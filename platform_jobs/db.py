"""Engine and sessions. One engine per process, created lazily after fork."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from platform_jobs.settings import get_settings

_engine: Engine | None = None
_engine_pid: int | None = None
_session_factory: sessionmaker[Session] | None = None


def get_engine() -> Engine:
    """The process's engine; a forked child never reuses its parent's connections."""
    global _engine, _engine_pid, _session_factory
    if _engine is None or _engine_pid != os.getpid():
        if _engine is not None:
            _engine.dispose(close=False)  # inherited sockets belong to the parent
        _engine = create_engine(
            get_settings().sqlalchemy_url,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=10,
            connect_args={"connect_timeout": 5},
        )
        _engine_pid = os.getpid()
        _session_factory = sessionmaker(_engine, expire_on_commit=False)
    return _engine


def reset_engine() -> None:
    """Forget the engine (after the settings changed, e.g. in tests)."""
    global _engine, _engine_pid, _session_factory
    if _engine is not None:
        _engine.dispose()
    _engine = _engine_pid = _session_factory = None


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    get_engine()
    assert _session_factory is not None
    session = _session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
