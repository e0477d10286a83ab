"""Our outages (ledger or broker unreachable) told apart from a job's own errors, and how errors read in
last_error."""

from __future__ import annotations

import pytest
from celery.exceptions import TimeLimitExceeded
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from platform_jobs.jobs.context import describe_error
from platform_jobs.jobs.outages import describe_outage, is_outage


class DriverError(Exception):
    """What psycopg raises: a message and, when the server answered, a SQLSTATE."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def db_error(kind: type[DBAPIError], sqlstate: str | None, message: str = "server said no") -> DBAPIError:
    return kind("SELECT 1", {}, DriverError(message, sqlstate))


@pytest.mark.parametrize("error", [
    db_error(OperationalError, None, "connection refused"),  # libpq never reached a server
    db_error(OperationalError, "08006"),  # connection failure
    db_error(OperationalError, "57P01"),  # admin shutdown
    db_error(OperationalError, "57P03"),  # the server is starting up
    db_error(OperationalError, "53300"),  # too many connections
    db_error(InterfaceError, None),
    PoolTimeoutError("QueuePool limit reached"),
    BrokerOperationalError("Error 111 connecting to 127.0.0.1:6379"),
    RedisConnectionError("Connection refused"),
    RedisTimeoutError("Timeout reading from socket"),
], ids=lambda error: type(error).__name__ + ":" + str(getattr(getattr(error, "orig", None), "sqlstate", "")))
def test_an_unreachable_ledger_or_broker_is_our_outage(error: BaseException) -> None:
    assert is_outage(error)


@pytest.mark.parametrize("error", [
    db_error(OperationalError, "57014"),  # statement timeout: the job's query, it would repeat forever
    db_error(OperationalError, "40P01"),  # deadlock
    db_error(IntegrityError, "23505"),
    db_error(ProgrammingError, None),  # client-side errors carry no SQLSTATE either
    ValueError("bad input"),
    RuntimeError("the handler failed"),
    None,
], ids=lambda error: type(error).__name__ + ":" + str(getattr(getattr(error, "orig", None), "sqlstate", "")))
def test_a_jobs_own_errors_are_not_outages(error: BaseException | None) -> None:
    assert not is_outage(error)


def test_an_invalidated_connection_is_an_outage_whatever_its_sqlstate() -> None:
    error = DBAPIError("SELECT 1", {}, DriverError("terminating connection", "57014"), connection_invalidated=True)
    assert is_outage(error)


def test_an_outage_is_found_behind_the_error_raised_from_it() -> None:
    try:
        try:
            raise RedisConnectionError("Connection refused")
        except RedisConnectionError as cause:
            raise RuntimeError("could not publish") from cause
    except RuntimeError as error:
        assert is_outage(error)
    assert not is_outage(RuntimeError("could not publish"))


def test_an_outage_reads_as_one_line_of_the_drivers_message() -> None:
    error = db_error(OperationalError, None, "connection to server failed\nIs the server running?")
    assert describe_outage(error) == "OperationalError: connection to server failed"
    assert describe_outage(RedisConnectionError("")) == "ConnectionError"


@pytest.mark.parametrize(("error", "text"), [
    (None, "unknown error"),
    (TimeLimitExceeded(2), "timeout: hard time limit (2 s) exceeded"),
    (ValueError("bad input"), "ValueError: bad input"),
    (KeyError(), "KeyError"),
])
def test_last_error_names_the_exception_and_its_message(error: BaseException | None, text: str) -> None:
    assert describe_error(error) == text
