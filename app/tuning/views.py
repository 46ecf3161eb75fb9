"""Each view of an image (a tile, or the whole image) through the model once: its boxes kept
for every NMS IoU searched, so that merge settings are scored again without the model."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..detector.detections import Detections
from ..detector.model import Model
from ..detector.pipeline import DEFAULT_MAX_PIXELS
from ..detector.postprocess import DetectOptions, select_labels, suppress
from ..detector.preprocess import open_image, to_rgb_image
from ..detector.sliced import (
    MAX_TILE_BATCH,
    Pixels,
    crop,
    fill_slot,
    image_size,
    view_chunks,
    whole_view,
)
from ..detector.slicing import tile_grid

# A tile geometry: (tile (width, height) px, overlap). None stands for the whole image.
Geometry = tuple[tuple[int, int], float]
ByIou = dict[float, Detections]  # NMS IoU -> one image's boxes from a set of views


def views_of(image_wh: tuple[int, int], geometry: Geometry | None) -> np.ndarray:
    """(V, 4) int64 xyxy views: the tile grid (as slicing mode "on" makes it), or the whole."""
    if geometry is None:
        return np.array([[0, 0, *image_wh]], np.int64)
    return tile_grid(image_wh, *geometry)


def read_image(path: Path, max_pixels: int) -> Pixels:
    """Decoded as the sliced path of detect_bytes decodes it (EXIF-oriented RGB PIL image)."""
    return to_rgb_image(open_image(path.read_bytes(), max_pixels=max_pixels))


def _view_boxes(model: Model, image: Pixels, views: np.ndarray, options: DetectOptions, ious):
    """One batch of views (one model call): per view, {iou: Detections in image px}.

    As sliced.view_detections, but candidates are decoded once and suppressed at every IoU.
    """
    info = model.info
    batch = np.empty((len(views), 3, info.input_wh[1], info.input_wh[0]), np.float32)
    boxes = [
        fill_slot(crop(image, view), slot, info).offset((int(view[0]), int(view[1])))
        for view, slot in zip(views, batch, strict=True)
    ]
    output = model.run(batch)
    image_wh = image_size(image)
    results = []
    for i, box in enumerate(boxes):
        decoded = info.layout.decoder(
            output[i : i + 1], info.input_wh, options.confidence, len(info.class_names)
        )
        labelled = select_labels(decoded, options)
        per_iou = {}
        for iou in ious:
            found = suppress(
                labelled, dataclasses.replace(options, iou=iou), needs_nms=info.layout.needs_nms
            )
            per_iou[iou] = Detections(
                box.to_image(found.xyxy, image_wh), found.confidence, found.class_id
            )
        results.append(per_iou)
    return results


def image_view_boxes(
    model: Model,
    image: Pixels,
    views: np.ndarray,
    options: DetectOptions,
    ious: tuple[float, ...],
    pool: ThreadPoolExecutor | None = None,
    workers: int = 1,
) -> ByIou:
    """Every view's boxes, concatenated in view order (as detect_views), per NMS IoU.

    With a pool of `workers` threads, batches run side by side on the model's one-thread
    session (model.serial()), as detect_views runs them.
    """
    runner = model.serial() if pool is not None and workers > 1 and len(views) > 1 else None
    workers = workers if runner is not None else 1
    chunks = view_chunks(len(views), MAX_TILE_BATCH if model.info.dynamic_batch else 1, workers)

    def run(bounds: tuple[int, int]):
        return _view_boxes(runner or model, image, views[bounds[0] : bounds[1]], options, ious)

    batches = pool.map(run, chunks) if pool is not None and runner is not None else map(run, chunks)
    parts = [part for batch in batches for part in batch]
    return {iou: Detections.concatenate([part[iou] for part in parts]) for iou in ious}


def geometry_pass(
    model: Model,
    paths: list[Path],
    geometry: Geometry | None,
    options: DetectOptions,
    ious: tuple[float, ...],
    *,
    workers: int = 1,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    keep_going: Callable[[int], bool] = lambda views: True,
) -> list[ByIou] | None:
    """Each image's boxes from every view of this geometry (None: the whole image), per IoU.

    keep_going(views done so far) is asked before each image; once it says no, the pass stops
    and returns None (an incomplete pass cannot score any setting).
    """
    found, done = [], 0
    with ThreadPoolExecutor(workers, thread_name_prefix="tune") as pool:
        for path in paths:
            if not keep_going(done):
                return None
            image = read_image(path, max_pixels)
            views = views_of(image_size(image), geometry) if geometry else whole_view(image)
            found.append(image_view_boxes(model, image, views, options, ious, pool, workers))
            done += len(views)
    keep_going(done)
    return found
