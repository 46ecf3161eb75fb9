"""The detection service: which model and which settings answer a request, the request's
validation, and the answer body. Every entry point calls it (HTTP, DeepStack, jobs, the S3, SQS
and IoT triggers, the detect and tune commands); each keeps only how the bytes arrive and how
the answer leaves.

Errors are the one hierarchy (app/detector/errors.py): a DetectionError with a code and a
message. Where it becomes an HTTP status is app/http/errors.py; where a trigger retries or
records it is app/events/.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

from .config import Settings
from .detector import DetectionResult, DetectOptions, Model, ModelError, detect_bytes
from .registry import ModelRegistry, unknown_model
from .schemas.annotated import add_annotated_image
from .schemas.detect import (
    DetectParams,
    DetectRequest,
    detection_response,
    model_summary,
    parse_detect_options,
    parse_detect_request,
)

__all__ = ["DetectParams", "DetectRequest", "DetectionService", "Params", "service_for"]


class Params(Protocol):
    """What detect() needs of a request: DetectParams, or a DetectRequest with its image."""

    @property
    def options(self) -> DetectOptions: ...

    @property
    def annotate(self) -> bool: ...

    @property
    def model(self) -> str | None: ...


@dataclass(frozen=True)
class DetectionService:
    """The default model (None: it failed to load), the settings its requests start from, and
    the registry of every model served by name (None: the default model alone).

    Which model answers is decided in `model()` alone, and which settings in `settings_for()`:
    models chosen by name, or settings a model recommends, change those two and nothing else.
    """

    settings: Settings
    loaded: Model | None
    registry: ModelRegistry | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The names a request may ask for, the default first."""
        if self.registry is not None:
            return self.registry.names
        return (self.loaded.info.name,) if self.loaded is not None else ()

    @property
    def default_name(self) -> str | None:
        if self.registry is not None:
            return self.registry.default
        return self.loaded.info.name if self.loaded is not None else None

    def model(self, name: str | None = None) -> Model:
        """The model called name (None: the default). InvalidRequest (unknown_model) for a
        name not served; ModelError (model_unavailable) for one that failed to load."""
        named = name is not None and (self.loaded is None or name != self.loaded.info.name)
        if named and self.registry is None:
            raise unknown_model(name, self.names)
        if named and not (self.loaded is None and name == self.registry.default):
            return self.registry.get(name).model
        if self.loaded is None:
            raise ModelError(
                "The model is not loaded, so detection is unavailable; see the server log."
            )
        return self.loaded

    def using(self, name: str | None) -> DetectionService:
        """This service answering with the model called name (None: this service itself)."""
        model = self.model(name)
        if model is self.loaded:
            return self
        return replace(self, settings=self.settings_for(model), loaded=model)

    def listing(self) -> list[dict]:
        """GET /models: each model's summary and labels once loaded (null before), whether it
        is the default and whether it is loaded. Listing loads nothing."""
        entries = []
        for name in self.names:
            model = self._loaded_model(name)
            info = model.info if model is not None else None
            summary = model_summary(info) if info else {"format": None, "input": None}
            labels = list(info.class_names) if info else None
            entries.append(
                {
                    "name": name,
                    **summary,
                    "labels": labels,
                    "default": name == self.default_name,
                    "loaded": model is not None,
                }
            )
        return entries

    def _loaded_model(self, name: str) -> Model | None:
        if name == self.default_name:
            return self.loaded
        return self.registry.get(name).model if self.registry.is_loaded(name) else None

    def settings_for(self, model: Model) -> Settings:
        """The defaults a request to `model` starts from: the server's settings under the
        model's recommended settings (applied once per model, when it loads)."""
        if model is self.loaded or self.registry is None:
            return self.settings
        return self.registry.get(model.info.name).settings

    def options(self, payload: Any) -> DetectParams:
        """A POST /detect body's options, without an image, validated as POST /detect does."""
        model = self.model(requested_model(payload))
        return parse_detect_options(payload, self.settings_for(model), model.info)

    def request(
        self, payload: Any, *, image_bytes: bytes | None = None, max_image_bytes: int | None = None
    ) -> DetectRequest:
        """A whole POST /detect request: its options and its image, either image_bytes (an
        upload) or base64 in payload["image"], at most max_image_bytes (MAX_IMAGE_BYTES)."""
        model = self.model(requested_model(payload))
        settings = self.settings_for(model)
        limit_bytes = settings.max_image_bytes if max_image_bytes is None else max_image_bytes
        return parse_detect_request(
            payload, settings, model.info, max_image_bytes=limit_bytes, image_bytes=image_bytes
        )

    def run(self, image_bytes: bytes, options: DetectOptions) -> DetectionResult:
        """The detections alone, for an answer shaped otherwise (DeepStack's; using() picks
        the model)."""
        model = self.model()
        max_pixels = self.settings_for(model).max_image_pixels
        return detect_bytes(model, image_bytes, options, max_pixels=max_pixels)

    def detect(self, image_bytes: bytes, params: Params) -> dict:
        """The POST /detect 200 body, with "annotated_image" when params ask for it.

        Raises DetectionError: the image cannot be decoded, is too large, or no model is loaded.
        """
        service = self.using(params.model)
        model = service.model()
        result = service.run(image_bytes, params.options)
        body = detection_response(result, model.info)
        if params.annotate:
            add_annotated_image(body, image_bytes, result, model, service.settings)
        return body


def requested_model(payload: Any) -> str | None:
    """The name in a payload's "model" field; None when absent or not text (validation then
    answers for a field of the wrong type)."""
    name = payload.get("model") if isinstance(payload, dict) else None
    return name if isinstance(name, str) else None


def service_for(model: Model | DetectionService | None, settings: Settings) -> DetectionService:
    """The service a trigger runs: the app's own (every model by name), or one over a model."""
    if isinstance(model, DetectionService):
        return model
    return DetectionService(settings, model)
