"""What a trigger may ask the detection service for: POST /detect's options, but no annotated
image (an annotated JPEG would blow IoT's 128 KB message cap; results stay detections-only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..detector.errors import InvalidRequest
from ..schemas.detect import DetectParams
from ..service import DetectionService


def trigger_options(service: DetectionService, fields: Mapping[str, Any]) -> DetectParams:
    """POST /detect options (no "image") -> DetectParams, validated as the API validates them.

    The image itself arrives separately (S3 object, IoT base64), so none is read here.
    """
    if fields.get("annotate"):
        raise InvalidRequest(
            '"annotate" is only available on POST /detect, not on S3 or IoT triggers.',
            code="invalid_field",
        )
    return service.options(dict(fields))
