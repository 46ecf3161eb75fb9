"""The whole detection path for one image: bytes -> pixels -> tensor -> Detections in image px."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .detections import Detections
from .model import Model
from .postprocess import DetectOptions, postprocess
from .preprocess import decode_scaled, letterbox, to_tensor

DEFAULT_MAX_PIXELS = 100_000_000


@dataclass(frozen=True)
class DetectionResult:
    """Detections in original-image pixels, the image size, and where the time went."""

    detections: Detections
    image_wh: tuple[int, int]
    timings_ms: dict[str, float] = field(default_factory=dict)


class _Stopwatch:
    """Collects named lap times in milliseconds."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps_ms: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps_ms[name] = self.laps_ms.get(name, 0.0) + (now - self.last) * 1000
        self.last = now

    def total(self) -> dict[str, float]:
        return {**self.laps_ms, "total": (time.perf_counter() - self.start) * 1000}


def detect_array(
    model: Model, image: np.ndarray, options: DetectOptions, *, watch: _Stopwatch | None = None
) -> Detections:
    """(H, W, 3) uint8 RGB -> Detections in image px (clipped, highest confidence first)."""
    watch = watch or _Stopwatch()
    info = model.info
    layout = info.layout
    canvas, box = letterbox(image, info.input_wh, centered=layout.centered)
    batch = np.empty((1, 3, info.input_wh[1], info.input_wh[0]), np.float32)
    to_tensor(canvas, bgr=layout.bgr, scale=layout.input_scale, out=batch[0])
    watch.lap("preprocess")
    output = model.run(batch)
    watch.lap("inference")
    num_classes = len(info.class_names)
    candidates = layout.decoder(output, info.input_wh, options.confidence, num_classes)
    found = postprocess(candidates, options, needs_nms=layout.needs_nms)
    image_wh = (image.shape[1], image.shape[0])
    found = Detections(box.to_image(found.xyxy, image_wh), found.confidence, found.class_id)
    watch.lap("postprocess")
    return found


def detect_bytes(
    model: Model,
    data: bytes,
    options: DetectOptions,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> DetectionResult:
    """Encoded image bytes -> DetectionResult; raises InvalidImage / PayloadTooLarge.

    A large JPEG is decoded at a reduced scale (see decode_scaled); boxes come back in
    full-size image pixels all the same.
    """
    watch = _Stopwatch()
    decoded = decode_scaled(data, max_pixels=max_pixels, min_size_wh=model.info.input_wh)
    watch.lap("decode")
    found = detect_array(model, decoded.pixels, options, watch=watch)
    found = Detections(decoded.to_image(found.xyxy), found.confidence, found.class_id)
    return DetectionResult(found, decoded.image_wh, watch.total())
