"""The whole detection path for one image: bytes -> pixels -> tensor -> Detections in image px."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .detections import Detections
from .draft import decode_opened
from .flip import fuse_mirrored
from .merge import merge_detections
from .model import Model
from .postprocess import DetectOptions
from .preprocess import open_image, oriented_size, to_rgb_image
from .slicing import SlicingSummary, plan_tiles
from .views import Pixels, detect_views, image_size, whole_view

DEFAULT_MAX_PIXELS = 100_000_000


@dataclass(frozen=True)
class DetectionResult:
    """Detections in original-image pixels, the image size, where the time went, slicing done."""

    detections: Detections
    image_wh: tuple[int, int]
    timings_ms: dict[str, float] = field(default_factory=dict)
    slicing: SlicingSummary | None = None  # None: not sliced


class _Stopwatch:
    """Collects named lap times in milliseconds."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps_ms: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps_ms[name] = self.laps_ms.get(name, 0.0) + (now - self.last) * 1000
        self.last = now

    def split(self, stage_s: dict[str, float]) -> None:
        """Lap the time since the last lap, shared among stages in proportion to stage_s
        (seconds each stage took, summed over the threads that ran side by side)."""
        now = time.perf_counter()
        spent_ms, busy_s = (now - self.last) * 1000, sum(stage_s.values())
        for name, seconds in stage_s.items():
            share = seconds / busy_s if busy_s > 0 else 1 / len(stage_s)
            self.laps_ms[name] = self.laps_ms.get(name, 0.0) + spent_ms * share
        self.last = now

    def total(self) -> dict[str, float]:
        return {**self.laps_ms, "total": (time.perf_counter() - self.start) * 1000}


def detect_array(
    model: Model, image: np.ndarray, options: DetectOptions, *, watch: _Stopwatch | None = None
) -> Detections:
    """(H, W, 3) uint8 RGB -> Detections in image px (clipped, highest confidence first).

    Sliced when options.slicing says so (see slicing.py).
    """
    tiles = plan_tiles(image_size(image), options.slicing, model.info.input_wh)
    found, _ = _detect(model, image, options, watch or _Stopwatch(), tiles)
    return found


def _detect(
    model: Model,
    image: Pixels,
    options: DetectOptions,
    watch: _Stopwatch,
    tiles: np.ndarray | None,
) -> tuple[Detections, SlicingSummary | None]:
    """The whole-image pass alone, or tiles (+ the whole-image pass) merged."""
    slicing = options.slicing
    if tiles is None or slicing is None:
        return _detect_whole(model, image, options, watch), None
    # One tile already is the whole image at native scale (SAHI skips the pass then too).
    whole_image = slicing.whole_image and len(tiles) > 1
    # The whole-image pass is one more view, the last.
    views = np.concatenate([tiles, whole_view(image)]) if whole_image else tiles

    def one_pass(mirrored: bool) -> Detections:
        found = detect_views(model, image, views, options, watch, mirrored=mirrored)
        found = merge_detections(
            found,
            method=slicing.merge,
            metric=slicing.match_metric,
            threshold=slicing.match_threshold,
            class_agnostic=slicing.class_agnostic,
            max_keep=options.max_detections,
        )
        watch.lap("postprocess")
        return found

    found = _flipped(one_pass, options, class_agnostic=slicing.class_agnostic)
    tile_wh = slicing.tile_wh or model.info.input_wh
    return found, SlicingSummary(len(tiles), tile_wh, slicing.overlap, whole_image)


def _detect_whole(
    model: Model, image: Pixels, options: DetectOptions, watch: _Stopwatch
) -> Detections:
    """One pass over the whole image, letterboxed to the model input: a single view."""

    def one_pass(mirrored: bool) -> Detections:
        return detect_views(model, image, whole_view(image), options, watch, mirrored=mirrored)

    # One label per box (not multi_label): a box the two passes name differently is one box.
    agnostic = options.agnostic or not options.multi_label
    return _flipped(one_pass, options, class_agnostic=agnostic)


def _flipped(
    one_pass: Callable[[bool], Detections], options: DetectOptions, *, class_agnostic: bool
) -> Detections:
    """one_pass(mirrored=False), or with options.flip that and the mirrored pass fused."""
    found = one_pass(False)
    if not options.flip:
        return found
    mirrored = one_pass(True)
    return fuse_mirrored(
        found, mirrored, class_agnostic=class_agnostic, max_keep=options.max_detections
    )


def detect_bytes(
    model: Model,
    data: bytes,
    options: DetectOptions,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> DetectionResult:
    """Encoded image bytes -> DetectionResult; raises InvalidImage / PayloadTooLarge.

    The tile plan (and its too_many_tiles check) comes from the header, before decoding.
    A sliced image stays a PIL image that tiles are cropped from: a numpy copy of it would add
    3 bytes a pixel to the 4 PIL holds (192 MB at 8000x8000). An unsliced large JPEG is decoded
    at a reduced scale (draft.py); boxes come back in full-size image pixels all the same.
    """
    watch = _Stopwatch()
    opened = open_image(data, max_pixels=max_pixels)
    tiles = plan_tiles(oriented_size(opened), options.slicing, model.info.input_wh)
    if tiles is not None:
        image = to_rgb_image(opened)
        watch.lap("decode")
        found, summary = _detect(model, image, options, watch, tiles)
        return DetectionResult(found, image_size(image), watch.total(), summary)
    decoded = decode_opened(opened, model.info.input_wh)
    watch.lap("decode")
    found = _detect_whole(model, decoded.pixels, options, watch)
    found = Detections(decoded.to_image(found.xyxy), found.confidence, found.class_id)
    return DetectionResult(found, decoded.image_wh, watch.total())
