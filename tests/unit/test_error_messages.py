"""The exceptions' own contract: a class's docstring is its default message, a given message wins, context
is kept, and each specific error stays in the category (and so the HTTP answer) it belongs to."""

from __future__ import annotations

import pytest

from platform_jobs import errors


def every_error_class() -> list[type[errors.PlatformJobsError]]:
    found: list[type[errors.PlatformJobsError]] = []
    pending: list[type[errors.PlatformJobsError]] = [errors.PlatformJobsError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__ == errors.__name__]


@pytest.mark.parametrize("cls", every_error_class(), ids=lambda cls: cls.__name__)
def test_the_docstring_is_the_default_message(cls: type[errors.PlatformJobsError]) -> None:
    assert cls.__doc__ and str(cls()) == cls.__doc__.strip()


def test_a_given_message_and_context_are_kept() -> None:
    error = errors.JobNotFound("no job with id 7", job_id="7")
    assert (str(error), error.context) == ("no job with id 7", {"job_id": "7"})


@pytest.mark.parametrize(("cls", "category", "status"), [
    (errors.JobNotFound, errors.NotFound, 404),
    (errors.ResourceNotFound, errors.NotFound, 404),
    (errors.MaxAttemptsReached, errors.Conflict, 409),
    (errors.JobStateConflict, errors.Conflict, 409),
    (errors.UnknownJobType, errors.Invalid, 422),
    (errors.ResourceConflict, errors.Invalid, 422),
    (errors.InvalidResourceId, errors.InvalidJob, 400),  # an invalid job, answered as malformed input
    (errors.AccessDenied, errors.Forbidden, 403),
    (errors.JobCanceled, errors.PlatformJobsError, 500),
])
def test_each_error_is_in_its_category(cls: type[errors.PlatformJobsError], category: type, status: int) -> None:
    assert issubclass(cls, category)
    assert cls.http_status == status


def test_every_code_is_a_snake_case_word_and_categories_differ() -> None:
    categories = [errors.NotFound, errors.Conflict, errors.Invalid, errors.Malformed, errors.Forbidden,
                  errors.Unavailable, errors.PlatformJobsError]
    assert len({(cls.http_status, cls.code) for cls in categories}) == len(categories)
    assert all(cls.code.replace("_", "").isalpha() and cls.code.islower() for cls in every_error_class())
