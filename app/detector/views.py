"""Running views through the model: one view's tensor and boxes; views streamed in batches,
side by side on several threads when there are CPUs for them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
from PIL import Image

from .cpus import LazyPool, usable_cpus
from .detections import Detections
from .model import Model, ModelInfo
from .postprocess import DetectOptions, postprocess
from .preprocess import Letterbox, letterbox, to_tensor

# Tiles per session.run when the model takes a dynamic batch: enough to amortise the call,
# few enough that memory stays bounded by tiles in flight (8 x 640 px tiles: 39 MB of input).
MAX_TILE_BATCH = 8

Pixels = np.ndarray | Image.Image  # (H, W, 3) uint8 RGB, or an RGB PIL image
T = TypeVar("T")  # what run_views makes of each view

# Started by the first request that runs views side by side; its size bounds the batches in
# flight, whatever the number of concurrent requests.
_POOL = LazyPool("views", usable_cpus)


def image_size(image: Pixels) -> tuple[int, int]:
    """(width, height) px of an array or a PIL image."""
    return image.size if isinstance(image, Image.Image) else (image.shape[1], image.shape[0])


def crop(image: Pixels, tile: np.ndarray) -> Pixels:
    """The pixels of tile (x1, y1, x2, y2): a view of an array, or a PIL crop (tile-sized);
    the image itself when the tile covers all of it (no copy of a whole big image)."""
    x1, y1, x2, y2 = (int(v) for v in tile)
    if (x1, y1, (x2, y2)) == (0, 0, image_size(image)):
        return image
    if isinstance(image, Image.Image):
        return image.crop((x1, y1, x2, y2))
    return image[y1:y2, x1:x2]


def whole_view(image: Pixels) -> np.ndarray:
    """(1, 4) int64: the view that is the whole image (crop() hands back the image itself)."""
    return np.array([[0, 0, *image_size(image)]], np.int64)


def fill_slot(
    pixels: Pixels, slot: np.ndarray, info: ModelInfo, *, mirrored: bool = False
) -> Letterbox:
    """Letterbox pixels the model's way into slot, a (3, H, W) float32 batch entry (mirrored
    left-right when asked: the test-time flip, see flip.py)."""
    layout = info.layout
    canvas, box = letterbox(pixels, info.input_wh, centered=layout.centered, mirrored=mirrored)
    to_tensor(canvas, bgr=layout.bgr, scale=layout.input_scale, out=slot)
    return box


def view_detections(
    output: np.ndarray,
    box: Letterbox,
    image_wh: tuple[int, int],
    options: DetectOptions,
    info: ModelInfo,
) -> Detections:
    """One view's (1, ...) model output -> Detections in image px (clipped to the image)."""
    num_classes = len(info.class_names)
    candidates = info.layout.decoder(output, info.input_wh, options.confidence, num_classes)
    found = postprocess(candidates, options, needs_nms=info.layout.needs_nms)
    return Detections(box.to_image(found.xyxy, image_wh), found.confidence, found.class_id)


def detect_views(
    model: Model,
    image: Pixels,
    views: np.ndarray,
    options: DetectOptions,
    watch,
    *,
    mirrored: bool = False,
) -> Detections:
    """Every view's own detections (NMS inside each view), in image px, concatenated in view
    order. views: (V, 4) xyxy crops of the image (tiles, and the whole image as a view);
    mirrored: each view fed mirrored left-right, its boxes mapped back (flip.py)."""
    info, image_wh = model.info, image_size(image)

    def detections(output: np.ndarray, box: Letterbox) -> Detections:
        return view_detections(output, box, image_wh, options, info)

    parts, stage_s = run_views(model, image, views, detections, mirrored=mirrored)
    watch.split(stage_s)
    return Detections.concatenate(parts)


def run_views(
    model: Model,
    image: Pixels,
    views: np.ndarray,
    per_view: Callable[[np.ndarray, Letterbox], T],
    *,
    workers: int | None = None,
    mirrored: bool = False,
) -> tuple[list[T], dict[str, float]]:
    """The one view pipeline: every view of image through the model, and per_view(output,
    box) of each, in view order. views: (V, 4) xyxy crops of the image; output: the view's
    (1, ...) raw model output; box: its letterbox, mapping model px to image px. Also returns
    the seconds each stage took (preprocess, inference, postprocess), summed over threads.
    mirrored: every view is fed mirrored left-right; box still maps model px to image px.

    Views are cropped as they are fed: only the batches in flight exist, one per worker. With
    several workers (None: the usable CPUs), batches run side by side on the model's
    one-thread session (model.serial()), so one view's crop, decode and NMS overlap another's
    inference; the result is the same as one after another (tests/test_views.py).
    """
    workers = min(usable_cpus() if workers is None else workers, len(views))
    runner = model.serial() if workers > 1 else None
    if runner is None:
        runner, workers = model, 1
    chunks = view_chunks(len(views), MAX_TILE_BATCH if model.info.dynamic_batch else 1, workers)

    def run_chunk(bounds: tuple[int, int]) -> tuple[list[T], dict[str, float]]:
        return _run_chunk(runner, image, views[bounds[0] : bounds[1]], per_view, mirrored)

    if workers == 1:
        results = [run_chunk(bounds) for bounds in chunks]
    else:
        results = list(_POOL.get().map(run_chunk, chunks))
    stage_s: dict[str, float] = {}
    for _, seconds in results:
        for stage, value in seconds.items():
            stage_s[stage] = stage_s.get(stage, 0.0) + value
    return [part for parts, _ in results for part in parts], stage_s


def view_chunks(count: int, max_batch: int, workers: int) -> list[tuple[int, int]]:
    """[start, stop) bounds of the batches: at most max_batch views each, as even as can be,
    and enough of them to keep every worker busy."""
    rounds = -(-count // (max_batch * workers))  # ceil
    size = max(1, -(-count // (rounds * workers)))
    return [(start, min(start + size, count)) for start in range(0, count, size)]


def _run_chunk(
    model: Model,
    image: Pixels,
    views: np.ndarray,
    per_view: Callable[[np.ndarray, Letterbox], T],
    mirrored: bool,
) -> tuple[list[T], dict[str, float]]:
    """One batch: crop and letterbox each view, one model call, per_view of each view.
    Returns its results and the seconds spent in each stage."""
    info = model.info
    started = time.perf_counter()
    batch = np.empty((len(views), 3, info.input_wh[1], info.input_wh[0]), np.float32)
    boxes = [
        fill_slot(crop(image, view), slot, info, mirrored=mirrored).offset(
            (int(view[0]), int(view[1]))
        )
        for view, slot in zip(views, batch, strict=True)
    ]
    prepared = time.perf_counter()
    output = model.run(batch)
    ran = time.perf_counter()
    parts = [per_view(output[i : i + 1], box) for i, box in enumerate(boxes)]
    seconds = {
        "preprocess": prepared - started,
        "inference": ran - prepared,
        "postprocess": time.perf_counter() - ran,
    }
    return parts, seconds
