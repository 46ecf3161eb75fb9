"""Each view of an image (a tile, or the whole image) through the model once: its boxes kept
for every NMS IoU searched, so that merge settings are scored again without the model."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..detector.detections import Detections
from ..detector.model import Model
from ..detector.pipeline import DEFAULT_MAX_PIXELS
from ..detector.postprocess import DetectOptions, select_labels, suppress
from ..detector.preprocess import Letterbox, open_image, to_rgb_image
from ..detector.slicing import tile_grid
from ..detector.views import Pixels, image_size, run_views, whole_view

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


def image_view_boxes(
    model: Model,
    image: Pixels,
    views: np.ndarray,
    options: DetectOptions,
    ious: tuple[float, ...],
    workers: int = 1,
) -> ByIou:
    """Every view's boxes, concatenated in view order (as detect_views), per NMS IoU: the
    detector's own view pipeline (run_views), each view's candidates decoded once and
    suppressed at every IoU."""
    info, image_wh = model.info, image_size(image)

    def boxes_by_iou(output: np.ndarray, box: Letterbox) -> ByIou:
        decoded = info.layout.decoder(
            output, info.input_wh, options.confidence, len(info.class_names)
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
        return per_iou

    parts, _ = run_views(model, image, views, boxes_by_iou, workers=workers)
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
    for path in paths:
        if not keep_going(done):
            return None
        image = read_image(path, max_pixels)
        views = views_of(image_size(image), geometry) if geometry else whole_view(image)
        found.append(image_view_boxes(model, image, views, options, ious, workers))
        done += len(views)
    keep_going(done)
    return found
