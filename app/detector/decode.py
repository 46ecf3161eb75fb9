"""Raw model outputs -> candidate boxes and class scores, one decoder per YOLO output layout."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

YOLO_STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class Candidates:
    """Rows whose best class score reached the confidence threshold.

    xyxy: (M, 4) float32, input px.  class_scores: (M, C) float32 in [0, 1].
    """

    xyxy: np.ndarray
    class_scores: np.ndarray


def _cxcywh_to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    half_wh = cxcywh[:, 2:4] / 2
    return np.concatenate([cxcywh[:, :2] - half_wh, cxcywh[:, :2] + half_wh], axis=1)


def _keep_confident(box: np.ndarray, scores: np.ndarray, confidence: float) -> Candidates:
    keep = scores.max(axis=1) >= confidence
    return Candidates(box[keep].astype(np.float32), scores[keep].astype(np.float32))


def _objectness_at_least(rows: np.ndarray, confidence: float) -> np.ndarray:
    """Rows that can reach confidence: score = objectness x class probability <= objectness.

    Cheap first cut (N compares) before the N x C products; it removes most rows, and a
    sliced request decodes once per tile.
    """
    return rows[:, 4] >= confidence


@functools.lru_cache(maxsize=8)
def grid_and_strides(input_wh: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """YOLOX cell origins (N, 2) and strides (N, 1), cells ordered stride 8, 16, 32, row-major.

    Cached per input size: computed once per process, never per request.
    """
    grids, strides = [], []
    for stride in YOLO_STRIDES:
        cols, rows = input_wh[0] // stride, input_wh[1] // stride
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        grids.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        strides.append(np.full((rows * cols, 1), stride))
    grid = np.concatenate(grids).astype(np.float32)
    stride = np.concatenate(strides).astype(np.float32)
    grid.flags.writeable = stride.flags.writeable = False
    return grid, stride


def grid_cells(input_wh: tuple[int, int]) -> int:
    """Number of prediction cells over strides 8, 16, 32 (YOLOX rows; YOLOv5 has 3x as many)."""
    return sum((input_wh[0] // s) * (input_wh[1] // s) for s in YOLO_STRIDES)


def decode_yolox(
    output: np.ndarray, input_wh: tuple[int, int], confidence: float, num_classes: int
) -> Candidates:
    """(1, N, 5+C): offsets and log-sizes in stride units, objectness, class probabilities."""
    rows = output[0]
    likely = _objectness_at_least(rows, confidence)
    rows = rows[likely]
    scores = rows[:, 4:5] * rows[:, 5:]
    keep = scores.max(axis=1) >= confidence
    rows, scores = rows[keep], scores[keep]
    grid, stride = grid_and_strides(input_wh)
    grid, stride = grid[likely][keep], stride[likely][keep]
    cxcy = (rows[:, :2] + grid) * stride
    wh = np.exp(rows[:, 2:4]) * stride
    box = _cxcywh_to_xyxy(np.concatenate([cxcy, wh], axis=1))
    return Candidates(box.astype(np.float32), scores.astype(np.float32))


def decode_yolov5(
    output: np.ndarray, input_wh: tuple[int, int], confidence: float, num_classes: int
) -> Candidates:
    """(1, N, 5+C): cx, cy, w, h in input px, objectness, class probabilities."""
    rows = output[0]
    rows = rows[_objectness_at_least(rows, confidence)]
    scores = rows[:, 4:5] * rows[:, 5:]
    return _keep_confident(_cxcywh_to_xyxy(rows[:, :4]), scores, confidence)


def decode_ultralytics(
    output: np.ndarray, input_wh: tuple[int, int], confidence: float, num_classes: int
) -> Candidates:
    """(1, 4+C, N): cx, cy, w, h in input px, then class scores; no objectness."""
    columns = output[0]
    # Select columns before transposing: the transpose copies, and few columns survive.
    keep = columns[4:].max(axis=0) >= confidence
    kept = columns[:, keep].T
    return Candidates(_cxcywh_to_xyxy(kept[:, :4]).astype(np.float32), kept[:, 4:].copy())


def decode_end2end(
    output: np.ndarray, input_wh: tuple[int, int], confidence: float, num_classes: int
) -> Candidates:
    """(1, K, 6): x1, y1, x2, y2 in input px, score, class id; already NMS-free.

    Scores become one-hot rows so every layout leaves this module in the same shape.
    """
    rows = output[0]
    rows = rows[rows[:, 4] >= confidence]
    class_id = rows[:, 5].astype(np.int64)
    width = max(num_classes, int(class_id.max()) + 1 if len(class_id) else 0)
    scores = np.zeros((len(rows), width), np.float32)
    scores[np.arange(len(rows)), class_id] = rows[:, 4]
    return Candidates(rows[:, :4].astype(np.float32), scores)


@dataclass(frozen=True)
class Layout:
    """Everything that differs between output layouts: input convention, decoder, NMS."""

    name: str
    bgr: bool
    input_scale: float
    centered: bool
    needs_nms: bool
    decoder: Callable[[np.ndarray, tuple[int, int], float, int], Candidates]


LAYOUTS: dict[str, Layout] = {
    "yolox": Layout("yolox", True, 1.0, False, True, decode_yolox),
    "yolov5": Layout("yolov5", False, 1 / 255, True, True, decode_yolov5),
    "ultralytics": Layout("ultralytics", False, 1 / 255, True, True, decode_ultralytics),
    "end2end": Layout("end2end", False, 1 / 255, True, False, decode_end2end),
}


def num_classes_from_shape(layout: str, output_shape: tuple[int, ...]) -> int | None:
    """Class count implied by the output shape; None where the shape does not say (end2end)."""
    return {
        "yolox": lambda s: s[2] - 5,
        "yolov5": lambda s: s[2] - 5,
        "ultralytics": lambda s: s[1] - 4,
        "end2end": lambda s: None,
    }[layout](output_shape)
