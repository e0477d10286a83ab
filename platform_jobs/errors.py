"""Exceptions of platform_jobs. Each class's docstring is its default message."""

from __future__ import annotations


class PlatformJobsError(Exception):
    """A platform_jobs operation failed."""

    def __init__(self, message: str | None = None, **context: object) -> None:
        self.context = context
        super().__init__(message or (self.__doc__ or "").strip())


class InvalidJob(PlatformJobsError):
    """The job request is invalid."""


class UnknownJobType(InvalidJob):
    """No job type with this name is registered."""


class JobNotFound(PlatformJobsError):
    """No job with this id exists."""


class JobStateConflict(PlatformJobsError):
    """The job is not in a state that allows this action."""


class MaxAttemptsReached(JobStateConflict):
    """The job has used all of its attempts; raise max_attempts to retry it."""


class JobCanceled(PlatformJobsError):
    """The job was canceled while it ran."""


class InsecureSecretKey(PlatformJobsError):
    """SECRET_KEY is not set or is the insecure development default (or shorter than 32 characters); \
set a random value of at least 32 characters, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"""
