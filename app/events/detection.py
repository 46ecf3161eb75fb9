"""The detection step of the triggers: the same parse, detect and serialise as POST /detect."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import Settings
from ..detector import DetectOptions, Model, ModelError, detect_bytes
from ..detector.errors import DetectionError, InvalidRequest
from ..schemas.detect import detection_response, parse_detect_request


def require_model(model: Model | None) -> Model:
    """The loaded model; without one, fail the invocation (it is logged, Lambda retries)."""
    if model is None:
        raise ModelError(
            "The model is not loaded, so events cannot be processed; see the init log."
        )
    return model


def parse_options(fields: Mapping[str, Any], settings: Settings, model: Model) -> DetectOptions:
    """POST /detect options (no "image") -> DetectOptions, validated as the API validates them.

    The image itself arrives separately (S3 object, IoT base64), so none is passed here.
    """
    if fields.get("annotate"):
        # Annotated JPEGs would blow IoT's 128 KB message cap; results stay detections-only.
        raise InvalidRequest(
            '"annotate" is only available on POST /detect, not on S3 or IoT triggers.',
            code="invalid_field",
        )
    parsed = parse_detect_request(
        dict(fields), settings, model.info, max_image_bytes=1, image_bytes=b""
    )
    return parsed.options


def detect_body(model: Model, data: bytes, options: DetectOptions, settings: Settings) -> dict:
    """Image bytes -> the POST /detect 200 body. Raises DetectionError for a bad image."""
    result = detect_bytes(model, data, options, max_pixels=settings.max_image_pixels)
    return detection_response(result, model.info)


def error_result(exc: DetectionError) -> dict:
    """The body recorded or published instead of detections (same shape as the API's errors)."""
    return {"error": {"code": exc.code, "message": exc.message}}
