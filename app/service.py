"""The detection service: which model and which settings answer a request, the request's
validation, and the answer body. Every entry point calls it (HTTP, DeepStack, jobs, the S3, SQS
and IoT triggers, the detect and tune commands); each keeps only how the bytes arrive and how
the answer leaves.

Errors are the one hierarchy (app/detector/errors.py): a DetectionError with a code and a
message. Where it becomes an HTTP status is app/http/errors.py; where a trigger retries or
records it is app/events/.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .config import Settings
from .detector import DetectionResult, DetectOptions, Model, ModelError, detect_bytes
from .schemas.annotated import add_annotated_image
from .schemas.detect import (
    DetectParams,
    DetectRequest,
    detection_response,
    parse_detect_options,
    parse_detect_request,
)

__all__ = ["DetectParams", "DetectRequest", "DetectionService", "Params"]


class Params(Protocol):
    """What detect() needs of a request: DetectParams, or a DetectRequest with its image."""

    @property
    def options(self) -> DetectOptions: ...

    @property
    def annotate(self) -> bool: ...


@dataclass(frozen=True)
class DetectionService:
    """The loaded model (None: it failed to load) and the settings every request starts from.

    Which model answers is decided in `model()` alone, and which settings in `settings_for()`:
    models chosen by name, or settings a model recommends, change those two and nothing else.
    """

    settings: Settings
    loaded: Model | None

    def model(self) -> Model:
        """The model that answers; ModelError (model_unavailable) when none is loaded."""
        if self.loaded is None:
            raise ModelError(
                "The model is not loaded, so detection is unavailable; see the server log."
            )
        return self.loaded

    def settings_for(self, model: Model) -> Settings:
        """The defaults a request to `model` starts from: the server's settings today."""
        return self.settings

    def options(self, payload: Any) -> DetectParams:
        """A POST /detect body's options, without an image, validated as POST /detect does."""
        model = self.model()
        return parse_detect_options(payload, self.settings_for(model), model.info)

    def request(
        self, payload: Any, *, image_bytes: bytes | None = None, max_image_bytes: int | None = None
    ) -> DetectRequest:
        """A whole POST /detect request: its options and its image, either image_bytes (an
        upload) or base64 in payload["image"], at most max_image_bytes (MAX_IMAGE_BYTES)."""
        model = self.model()
        settings = self.settings_for(model)
        limit_bytes = settings.max_image_bytes if max_image_bytes is None else max_image_bytes
        return parse_detect_request(
            payload, settings, model.info, max_image_bytes=limit_bytes, image_bytes=image_bytes
        )

    def run(self, image_bytes: bytes, options: DetectOptions) -> DetectionResult:
        """The detections alone, for an answer shaped otherwise (DeepStack's)."""
        model = self.model()
        max_pixels = self.settings_for(model).max_image_pixels
        return detect_bytes(model, image_bytes, options, max_pixels=max_pixels)

    def detect(self, image_bytes: bytes, params: Params) -> dict:
        """The POST /detect 200 body, with "annotated_image" when params ask for it.

        Raises DetectionError: the image cannot be decoded, is too large, or no model is loaded.
        """
        model = self.model()
        result = self.run(image_bytes, params.options)
        body = detection_response(result, model.info)
        if params.annotate:
            add_annotated_image(body, image_bytes, result, model, self.settings_for(model))
        return body
