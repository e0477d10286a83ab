"""Exceptions of platform_jobs. Each class's docstring is its default message.

Every error belongs to a category that carries its HTTP answer (``http_status`` and ``code``), so the
web layer maps an exception by its class, never by its name: NotFound (404), Conflict (409), Invalid
(422, or 400 for malformed input), Forbidden (403) and Unavailable (503, our infrastructure). An
uncategorized error is an internal one (500, logged).
"""

from __future__ import annotations


class PlatformJobsError(Exception):
    """A platform_jobs operation failed."""

    http_status = 500
    code = "internal_error"

    def __init__(self, message: str | None = None, **context: object) -> None:
        self.context = context
        super().__init__(message or (self.__doc__ or "").strip())


class NotFound(PlatformJobsError):
    """No such thing (or it belongs to another workspace, which answers the same)."""

    http_status, code = 404, "not_found"


class Conflict(PlatformJobsError):
    """The thing is not in a state that allows this."""

    http_status, code = 409, "conflict"


class Invalid(PlatformJobsError):
    """The request is invalid."""

    http_status, code = 422, "invalid"


class Malformed(Invalid):
    """The request is malformed."""

    http_status, code = 400, "bad_request"


class Forbidden(PlatformJobsError):
    """The caller may not do this."""

    http_status, code = 403, "forbidden"


class Unavailable(PlatformJobsError):
    """A service platform_jobs depends on is unavailable; try again later."""

    http_status, code = 503, "unavailable"


class InvalidJob(Invalid):
    """The job request is invalid."""

    code = "invalid_job"


class UnknownJobType(InvalidJob):
    """No job type with this name is registered."""

    code = "unknown_job_type"


class JobNotFound(NotFound):
    """No job with this id exists."""


class JobStateConflict(Conflict):
    """The job is not in a state that allows this action."""


class MaxAttemptsReached(JobStateConflict):
    """The job has used all of its attempts; raise max_attempts to retry it."""

    code = "max_attempts_reached"


class JobCanceled(PlatformJobsError):
    """The job was canceled while it ran."""


class InvalidResourceId(InvalidJob):
    """A payload field that names a resource does not hold a well-formed id."""

    http_status, code = 400, "bad_request"


class ResourceConflict(InvalidJob):
    """The resources a job names do not belong together."""


class ResourceNotFound(NotFound):
    """No such resource (or it belongs to another workspace, which answers the same)."""


class AccessDenied(Forbidden):
    """The caller may not start this job."""


class InsecureSecretKey(PlatformJobsError):
    """SECRET_KEY is not set or is the insecure development default (or shorter than 32 characters); \
set a random value of at least 32 characters, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"""
