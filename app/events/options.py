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
    refuse_annotate(fields)
    return service.options(dict(fields))


def refuse_annotate(fields: Mapping[str, Any]) -> None:
    """A trigger message asking for an annotated image is refused, whichever way its image
    comes (S3 key, S3 reference or base64 in an IoT message), rather than quietly not drawn."""
    if fields.get("annotate"):
        raise InvalidRequest(
            '"annotate" is only available on POST /detect, not on S3 or IoT triggers.',
            code="invalid_field",
        )
