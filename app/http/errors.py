"""Where errors become HTTP answers, in one place: the table of error class -> status (and
headers, and the codes clients see), the JSON bodies, and Werkzeug's own HTTP errors.

The error classes carry a code and a message only (app/detector/errors.py); HTTP_ERRORS is the
only place that knows their statuses, and /openapi.json lists it (app/http/openapi.py). Paths
whose clients expect another body (DeepStack's /v1/vision/) register their shape for a prefix
(add_error_shape); every error under it, routing errors included, answers in that shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from ..detector.errors import (
    DetectionError,
    InvalidImage,
    InvalidRequest,
    ModelError,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from ..jobs import JobNotFound, JobsUnavailable
from ..observability import loggable
from ..schemas.errors import error_body
from .auth import AuthUnavailable, Unauthorized

__all__ = [
    "HTTP_ERRORS",
    "HttpError",
    "add_error_shape",
    "codes_by_status",
    "http_error",
    "register_error_handlers",
]

log = logging.getLogger(__name__)
# (status, message, headers) -> the response, for the paths under a prefix.
ErrorShape = Callable[[int, str, tuple], Response]
_SHAPES_KEY = "error_shapes"


@dataclass(frozen=True)
class HttpError:
    """How one error class answers over HTTP, and the `error.code` values it is raised with."""

    error: type[DetectionError]
    status: int
    codes: tuple[str, ...]
    headers: tuple[tuple[str, str], ...] = ()


HTTP_ERRORS: tuple[HttpError, ...] = (
    HttpError(
        InvalidRequest,
        400,
        (
            "invalid_json",
            "duplicate_key",
            "invalid_request",
            "missing_field",
            "invalid_field",
            "invalid_base64",
            "unknown_field",
            "unknown_class",
            "unknown_model",
        ),
    ),
    HttpError(
        Unauthorized, 401, ("unauthorized",), (("WWW-Authenticate", 'Bearer realm="detect-api"'),)
    ),
    HttpError(JobNotFound, 404, ("not_found",)),
    HttpError(PayloadTooLarge, 413, ("payload_too_large", "image_too_large", "too_many_tiles")),
    HttpError(UnsupportedMediaType, 415, ("unsupported_media_type",)),
    HttpError(
        InvalidImage,
        422,
        ("empty_image", "unsupported_image_format", "corrupt_image", "invalid_image"),
    ),
    HttpError(ModelError, 503, ("model_unavailable",)),
    HttpError(AuthUnavailable, 503, ("auth_unavailable",)),
    HttpError(JobsUnavailable, 503, ("jobs_unavailable",)),
)
# Any other error of the hierarchy (ConfigError, the base class) is a 500 with its own code.
_OTHER = HttpError(DetectionError, 500, ())
# What an exception outside the hierarchy answers: content-free, the detail goes to the log.
UNEXPECTED = HttpError(DetectionError, 500, ("internal_error",))
UNEXPECTED_MESSAGE = "An unexpected error occurred; it has been logged."
_BY_CLASS = {row.error: row for row in HTTP_ERRORS}

# Werkzeug's own errors (routing, body size) get our codes and sentences too.
_HTTP_CODES = {
    400: ("invalid_request", "The request is malformed."),
    404: ("not_found", "There is no such route; GET /docs lists them."),
    405: ("method_not_allowed", "This route does not accept that HTTP method."),
    415: ("unsupported_media_type", "Send the request body as application/json."),
}


def http_error(exc: DetectionError) -> HttpError:
    """The table's row for this error: its class's, or the nearest base class's."""
    for cls in type(exc).__mro__:
        row = _BY_CLASS.get(cls)
        if row is not None:
            return row
    return _OTHER


def codes_by_status() -> dict[int, tuple[str, ...]]:
    """Every status the routes answer errors with, and its codes in the table's order."""
    listed: dict[int, tuple[str, ...]] = {}
    for row in (*HTTP_ERRORS, UNEXPECTED):
        listed[row.status] = listed.get(row.status, ()) + row.codes
    return listed


def add_error_shape(app: Flask, path_prefix: str, shape: ErrorShape) -> None:
    """Errors of requests under path_prefix answer in this shape (a blueprint's clients')."""
    app.extensions.setdefault(_SHAPES_KEY, {})[path_prefix] = shape


def _answer(status: int, code: str, message: str, headers=()) -> Response:
    """The error response: {"error": {"code", "message"}}, or the path's own shape."""
    for prefix, shape in current_app.extensions.get(_SHAPES_KEY, {}).items():
        if request.path.startswith(prefix):
            return shape(status, message, tuple(headers))
    response = jsonify(error_body(code, message))
    response.status_code = status
    response.headers.extend(headers)
    return response


def _detection_error(exc: DetectionError):
    row = http_error(exc)
    if row.status >= 500:
        log.error("%s: %s", exc.code, loggable(exc.message))
    return _answer(row.status, exc.code, exc.message, row.headers)


def werkzeug_error(exc: HTTPException) -> tuple[int, str, str]:
    """(status, code, message) for one of Werkzeug's errors (routing, body size)."""
    status = exc.code or 500
    code, message = _HTTP_CODES.get(status, ("http_error", "The request failed."))
    if status == 413:
        limit_bytes = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        code = "payload_too_large"
        message = (
            f"The request body is larger than the limit of {limit_bytes:,} bytes. For bigger "
            "images, create a job with POST /jobs and upload the image to the URL it answers."
        )
    return status, code, message


def _http_error(exc: HTTPException):
    status, code, message = werkzeug_error(exc)
    allow = (
        (("Allow", ", ".join(exc.valid_methods)),) if status == 405 and exc.valid_methods else ()
    )
    return _answer(status, code, message, allow)


def _unexpected_error(exc: Exception):
    # Internals go to the log only; the client gets a stable, content-free answer.
    log.exception("unhandled error")
    return _answer(UNEXPECTED.status, UNEXPECTED.codes[0], UNEXPECTED_MESSAGE)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DetectionError, _detection_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
