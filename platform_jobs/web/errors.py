"""JSON errors of the API: ``{"ok": false, "error": {"code", "message"}}``, never a bare 500."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from platform_jobs.errors import JobNotFound, PlatformJobsError
from platform_jobs.health import database_problem

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid_job",
    429: "too_many_requests",
}


class ApiError(Exception):
    """An error answer of the API."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"ok": False, "error": {"code": code, "message": message}}), status


def ok(result: Any, status: int = 200) -> tuple[Response, int]:
    return jsonify({"ok": True, "result": result}), status


def from_queue_error(exc: PlatformJobsError) -> ApiError:
    """The HTTP answer of a platform_jobs error: its category's status and code."""
    if isinstance(exc, JobNotFound):
        return ApiError(exc.http_status, exc.code, "no such job")  # the id is not echoed back
    return ApiError(exc.http_status, exc.code, str(exc))


def _page(exc: HTTPException) -> Any:
    """An error page in the app's own look (a redirect or a response an exception carries passes through)."""
    status = exc.code or 500
    if status < 400:
        return exc
    try:
        # A page of its own for the common ones (404, 500), the shared one for the rest.
        body = render_template([f"errors/{status}.html", "errors/error.html"], status=status, name=exc.name,
                               message=exc.description)
    except Exception:  # the page itself failed (a template or the database): plain text, never a loop
        log.exception("error page for %s failed", status)
        return f"{status} {exc.name}", status
    response = make_response(body, status)
    for header in ("Allow", "Retry-After", "WWW-Authenticate"):
        value = exc.get_response().headers.get(header)
        if value:
            response.headers[header] = value
    return response


def _is_api() -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Any:
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(PlatformJobsError)
    def _queue_error(exc: PlatformJobsError) -> Any:
        mapped = from_queue_error(exc)
        if mapped.status >= 500:
            log.error("%s on %s %s: %s", type(exc).__name__, request.method, request.path, exc)
        return error_response(mapped.status, mapped.code, mapped.message)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Any:
        if _is_api():
            return error_response(400, "csrf_failed", f"CSRF check failed: {exc.description}")
        return exc

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        if not _is_api():
            return _page(exc)
        status = exc.code or 500
        response, _ = error_response(status, HTTP_CODES.get(status, "error"), exc.description or exc.name)
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response, status

    @app.errorhandler(OperationalError)
    def _database_unavailable(exc: OperationalError) -> Any:
        # An unreachable or unmigrated database is an operator's problem with a known fix: say so in the
        # log, and answer 503 (never a bare 500) so clients and probes retry.
        log.error("database unavailable on %s %s: %s", request.method, request.path,
                  database_problem() or str(exc.orig).strip().splitlines()[0])
        message = "the database is unavailable; try again shortly"
        if _is_api():
            return error_response(503, "unavailable", message)
        return _page(ServiceUnavailable(message[0].upper() + message[1:] + "."))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _is_api():
            return error_response(500, "internal_error", "internal error; it was logged")
        return _page(InternalServerError("Something went wrong on our side; it was logged."))
