"""The one error hierarchy: every failure the service reports is a DetectionError subclass."""

from __future__ import annotations


class DetectionError(Exception):
    """Base of all service errors; carries a stable snake_case code and a message.

    The message must be a sentence a caller can act on: it is shown to clients as-is, so it
    never contains paths, tracebacks or other internals. How an entry point answers an error
    (a status, a retry) is decided by that entry point, never here.
    """

    code = "detection_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidRequest(DetectionError):
    """The request is malformed: bad JSON, a missing field or a value out of range."""

    code = "invalid_request"


class PayloadTooLarge(DetectionError):
    """The body, the decoded image or its pixel count is over a configured limit."""

    code = "payload_too_large"


class UnsupportedMediaType(DetectionError):
    """The request body is not in a content type this route accepts."""

    code = "unsupported_media_type"


class InvalidImage(DetectionError):
    """The bytes are not an image that can be decoded."""

    code = "invalid_image"


class ModelError(DetectionError):
    """The model cannot be used: missing file, unknown output layout, failed session."""

    code = "model_unavailable"


class ConfigError(DetectionError):
    """An environment setting is invalid; raised at cold start, never per request."""

    code = "config_error"
