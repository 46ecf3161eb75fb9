"""Running views through the model: one view's tensor and boxes, and tiles streamed in batches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .detections import Detections
from .model import Model, ModelInfo
from .postprocess import DetectOptions, postprocess
from .preprocess import Letterbox, letterbox, to_tensor

# Tiles per session.run when the model takes a dynamic batch: enough to amortise the call,
# few enough that memory stays bounded by tiles in flight (8 x 640 px tiles: 39 MB of input).
MAX_TILE_BATCH = 8

Pixels = np.ndarray | Image.Image  # (H, W, 3) uint8 RGB, or an RGB PIL image


@dataclass(frozen=True)
class SlicingSummary:
    """What a sliced request did (the response's `"slicing"` object)."""

    tiles: int
    tile_wh: tuple[int, int]
    overlap: float
    whole_image: bool


def image_size(image: Pixels) -> tuple[int, int]:
    """(width, height) px of an array or a PIL image."""
    return image.size if isinstance(image, Image.Image) else (image.shape[1], image.shape[0])


def crop(image: Pixels, tile: np.ndarray) -> Pixels:
    """The pixels of tile (x1, y1, x2, y2): a view of an array, or a PIL crop (tile-sized)."""
    x1, y1, x2, y2 = (int(v) for v in tile)
    if isinstance(image, Image.Image):
        return image.crop((x1, y1, x2, y2))
    return image[y1:y2, x1:x2]


def fill_slot(pixels: Pixels, slot: np.ndarray, info: ModelInfo) -> Letterbox:
    """Letterbox pixels the model's way into slot, a (3, H, W) float32 batch entry."""
    layout = info.layout
    canvas, box = letterbox(pixels, info.input_wh, centered=layout.centered)
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


def detect_tiles(
    model: Model, image: Pixels, tiles: np.ndarray, options: DetectOptions, watch
) -> Detections:
    """Every tile's own detections (NMS inside each tile), in image px, concatenated.

    Tiles are cropped as they are fed: only one batch of input exists at a time, in one
    buffer reused for every batch (batches of 1 when the model's batch size is fixed).
    """
    info = model.info
    image_wh = image_size(image)
    batch_size = min(MAX_TILE_BATCH, len(tiles)) if info.dynamic_batch else 1
    batch = np.empty((batch_size, 3, info.input_wh[1], info.input_wh[0]), np.float32)
    parts = []
    for start in range(0, len(tiles), batch_size):
        chunk = tiles[start : start + batch_size]
        boxes = [
            fill_slot(crop(image, tile), slot, info).offset((int(tile[0]), int(tile[1])))
            for tile, slot in zip(chunk, batch, strict=False)
        ]
        watch.lap("preprocess")
        output = model.run(batch[: len(chunk)])
        watch.lap("inference")
        parts += [
            view_detections(output[i : i + 1], box, image_wh, options, info)
            for i, box in enumerate(boxes)
        ]
        watch.lap("postprocess")
    return Detections.concatenate(parts)
