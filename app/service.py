"""The detection service: which model and which settings answer a request, the request's
validation, and the answer body. Every entry point calls it (HTTP, DeepStack, jobs, the S3, SQS
and IoT triggers, the detect and tune commands); each keeps only how the bytes arrive and how
the answer leaves.

Errors are the one hierarchy (app/detector/errors.py): a DetectionError with a code and a
message. Where it becomes an HTTP status is app/http/errors.py; where a trigger retries or
records it is app/events/.
"""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Protocol

from .config import Settings
from .detector import DetectionResult, DetectOptions, Model, ModelError, detect_bytes
from .detector.annotate import annotated_jpeg
from .detector.onnx_file import FileFacts
from .registry import ModelRegistry, Served, unknown_model
from .schemas.detect import (
    DetectParams,
    DetectRequest,
    detection_response,
    parse_detect_options,
    parse_detect_request,
)
from .schemas.models import listed_model

__all__ = [
    "DetectParams",
    "DetectRequest",
    "DetectionService",
    "Params",
    "start_service",
]

log = logging.getLogger(__name__)


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

    Which model answers a request, and with which settings, is decided in `served()` alone,
    once per call: each entry point below resolves the name once and passes the value down.
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

    def served(self, name: str | None = None) -> Served:
        """The model called name (None: the default) and the settings its requests start from
        (its recommended settings applied). InvalidRequest (unknown_model) for a name not
        served; ModelError (model_unavailable) for a model that failed to load."""
        if name is None or name == self.default_name:
            if self.loaded is None:
                raise ModelError(
                    "The model is not loaded, so detection is unavailable; see the server log."
                )
            return Served(self.loaded, self.settings)
        if self.registry is None:
            raise unknown_model(name, self.names)
        return self.registry.get(name)

    def model(self, name: str | None = None) -> Model:
        """The model called name (None: the default); errors as served()."""
        return self.served(name).model

    def using(self, name: str | None) -> DetectionService:
        """This service answering with the model called name (None: this service itself)."""
        served = self.served(name)
        if served.model is self.loaded:
            return self
        return replace(self, settings=served.settings, loaded=served.model)

    def listing(self) -> list[dict]:
        """GET /models: each model's format, input, labels and recommended settings (a loaded
        model's own; else what its file says, read without loading it), whether it is the
        default and whether it is loaded. Listing loads nothing."""
        entries = []
        for name in self.names:
            model = self._loaded_model(name)
            if model is not None:
                facts = FileFacts.of(model.info)
            else:
                facts = self.registry.facts(name) if self.registry is not None else None
            default, loaded = name == self.default_name, model is not None
            entries.append(listed_model(name, facts, default=default, loaded=loaded))
        return entries

    def _loaded_model(self, name: str) -> Model | None:
        if name == self.default_name:
            return self.loaded
        return self.registry.get(name).model if self.registry.is_loaded(name) else None

    def options(self, payload: Any) -> DetectParams:
        """A POST /detect body's options, without an image, validated as POST /detect does."""
        served = self.served(requested_model(payload))
        return parse_detect_options(payload, served.settings, served.model.info)

    def request(
        self, payload: Any, *, image_bytes: bytes | None = None, max_image_bytes: int | None = None
    ) -> DetectRequest:
        """A whole POST /detect request: its options and its image, either image_bytes (an
        upload) or base64 in payload["image"], at most max_image_bytes (MAX_IMAGE_BYTES)."""
        served = self.served(requested_model(payload))
        settings = served.settings
        limit_bytes = settings.max_image_bytes if max_image_bytes is None else max_image_bytes
        return parse_detect_request(
            payload,
            settings,
            served.model.info,
            max_image_bytes=limit_bytes,
            image_bytes=image_bytes,
        )

    def run(self, image_bytes: bytes, options: DetectOptions) -> DetectionResult:
        """The detections alone, for an answer shaped otherwise (DeepStack's; using() picks
        the model)."""
        return _run(self.served(), image_bytes, options)

    def detect(self, image_bytes: bytes, params: Params) -> dict:
        """The POST /detect 200 body, with "annotated_image" when params ask for it.

        Raises DetectionError: the image cannot be decoded, is too large, or no model is loaded.
        """
        served = self.served(params.model)
        result = _run(served, image_bytes, params.options)
        body = detection_response(result, served.model.info)
        if params.annotate:
            started = time.perf_counter()
            jpeg = annotated_jpeg(
                image_bytes,
                result.detections,
                served.model.info.class_names,
                max_pixels=served.settings.max_image_pixels,
            )
            body["annotated_image"] = base64.b64encode(jpeg).decode("ascii")
            body["timings_ms"]["annotate"] = round((time.perf_counter() - started) * 1000, 2)
        return body


def _run(served: Served, image_bytes: bytes, options: DetectOptions) -> DetectionResult:
    return detect_bytes(
        served.model, image_bytes, options, max_pixels=served.settings.max_image_pixels
    )


def start_service(
    settings: Settings, *, model: Model | None = None, fail_fast: bool = True
) -> DetectionService:
    """The service over every model settings name (app/registry.py): the default loaded now
    (model: already loaded), its recommended settings applied; the others load on first use.

    fail_fast: raise why the default cannot load (a missing file, a bad recommended setting);
    False logs it and serves without it (503 model_unavailable).
    """
    registry = ModelRegistry.from_settings(settings, default_model=model)
    for name in registry.names:  # GET /models describes each without loading it
        registry.facts(name)
    try:
        served = registry.get(registry.default)
    except ModelError as exc:
        if fail_fast:
            raise exc.__cause__ or exc from None
        log.error("model unavailable: %s", exc.message)
        return DetectionService(settings, None, registry)
    return DetectionService(served.settings, served.model, registry)


def requested_model(payload: Any) -> str | None:
    """The name in a payload's "model" field; None when absent or not text (validation then
    answers for a field of the wrong type)."""
    name = payload.get("model") if isinstance(payload, dict) else None
    return name if isinstance(name, str) else None
