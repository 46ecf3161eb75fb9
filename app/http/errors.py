"""Maps the one error hierarchy (and Werkzeug's HTTP errors) to JSON bodies, in one place."""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify
from werkzeug.exceptions import HTTPException

from ..detector.errors import (
    ConfigError,
    DetectionError,
    InvalidImage,
    InvalidRequest,
    ModelError,
    PayloadTooLarge,
    UnsupportedMediaType,
)

__all__ = [
    "ConfigError",
    "DetectionError",
    "InvalidImage",
    "InvalidRequest",
    "ModelError",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "error_body",
    "register_error_handlers",
]

log = logging.getLogger(__name__)

# Werkzeug's own errors (routing, body size) get our codes and sentences too.
_HTTP_CODES = {
    400: ("invalid_request", "The request is malformed."),
    404: ("not_found", "There is no such route; GET /docs lists them."),
    405: ("method_not_allowed", "This route does not accept that HTTP method."),
    415: ("unsupported_media_type", "Send the request body as application/json."),
}


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def _detection_error(exc: DetectionError):
    if exc.http_status >= 500:
        log.error("%s: %s", exc.code, exc.message)
    response = jsonify(error_body(exc.code, exc.message))
    response.status_code = exc.http_status
    response.headers.extend(exc.headers)
    return response


def _http_error(exc: HTTPException):
    status = exc.code or 500
    code, message = _HTTP_CODES.get(status, ("http_error", "The request failed."))
    if status == 413:
        limit_bytes = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        code = "payload_too_large"
        message = (
            f"The request body is larger than the limit of {limit_bytes:,} bytes. For bigger "
            "images, create a job with POST /jobs and upload the image to the URL it answers."
        )
    response = jsonify(error_body(code, message))
    response.status_code = status
    if status == 405 and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _unexpected_error(exc: Exception):
    # Internals go to the log only; the client gets a stable, content-free answer.
    log.exception("unhandled error")
    body = error_body("internal_error", "An unexpected error occurred; it has been logged.")
    return jsonify(body), 500


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DetectionError, _detection_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
