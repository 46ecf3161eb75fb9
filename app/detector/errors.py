"""The one error hierarchy: every failure the service reports is a DetectionError subclass."""

from __future__ import annotations


class DetectionError(Exception):
    """Base of all service errors; carries a stable snake_case code and an HTTP status.

    The message must be a sentence a caller can act on: it is shown to clients as-is, so it
    never contains paths, tracebacks or other internals.
    """

    code = "detection_error"
    http_status = 500
    # Extra HTTP response headers, as (name, value) pairs (401 needs WWW-Authenticate).
    headers: tuple[tuple[str, str], ...] = ()

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidRequest(DetectionError):
    """The request is malformed: bad JSON, a missing field or a value out of range."""

    code = "invalid_request"
    http_status = 400


class PayloadTooLarge(DetectionError):
    """The body, the decoded image or its pixel count is over a configured limit."""

    code = "payload_too_large"
    http_status = 413


class UnsupportedMediaType(DetectionError):
    """The request body is not in a content type this route accepts."""

    code = "unsupported_media_type"
    http_status = 415


class InvalidImage(DetectionError):
    """The bytes are not an image that can be decoded."""

    code = "invalid_image"
    http_status = 422


class ModelError(DetectionError):
    """The model cannot be used: missing file, unknown output layout, failed session."""

    code = "model_unavailable"
    http_status = 503


class ConfigError(DetectionError):
    """An environment setting is invalid; raised at cold start, never per request."""

    code = "config_error"
    http_status = 500
