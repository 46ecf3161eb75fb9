"""Vectorised box overlap and greedy non-maximum suppression (class-aware or agnostic)."""

from __future__ import annotations

import numpy as np


def box_area(xyxy: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy -> (N,) area; degenerate boxes have area 0."""
    return np.clip(xyxy[:, 2] - xyxy[:, 0], 0, None) * np.clip(xyxy[:, 3] - xyxy[:, 1], 0, None)


def overlap_one_to_many(
    box: np.ndarray,
    boxes: np.ndarray,
    *,
    metric: str = "iou",
    box_area_px: float | None = None,
    areas: np.ndarray | None = None,
) -> np.ndarray:
    """Overlap of one (4,) box with (N, 4) boxes.

    metric "iou": intersection over union; "ios": intersection over the smaller box's area.
    """
    inter_w = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    inter_h = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = inter_w * inter_h
    area = box_area(box[None])[0] if box_area_px is None else box_area_px
    others = box_area(boxes) if areas is None else areas
    if metric == "iou":
        denominator = area + others - inter
    elif metric == "ios":
        denominator = np.minimum(area, others)
    else:
        raise ValueError(f"unknown overlap metric {metric!r}; use 'iou' or 'ios'")
    return np.divide(inter, denominator, out=np.zeros_like(inter), where=denominator > 0)


def nms(
    xyxy: np.ndarray,
    scores: np.ndarray,
    class_id: np.ndarray | None,
    iou_threshold: float,
    *,
    max_keep: int | None = None,
    metric: str = "iou",
) -> np.ndarray:
    """Greedy NMS; returns indices of kept boxes, highest score first.

    A box is suppressed by a higher-scoring kept box of the same class (any class when
    class_id is None) whose overlap exceeds iou_threshold. Stops once max_keep boxes are
    kept: greedy NMS keeps in score order, so the first max_keep kept are exactly the
    top max_keep of the full result, at a fraction of the cost.
    """
    order = np.argsort(-scores, kind="stable")
    boxes = xyxy[order].astype(np.float32, copy=False)
    areas = box_area(boxes)
    classes = None if class_id is None else class_id[order]
    remaining = np.arange(len(order))
    limit = len(order) if max_keep is None else max_keep
    kept: list[int] = []
    while remaining.size and len(kept) < limit:
        best, rest = remaining[0], remaining[1:]
        kept.append(best)
        overlap = overlap_one_to_many(
            boxes[best], boxes[rest], metric=metric, box_area_px=areas[best], areas=areas[rest]
        )
        survives = overlap <= iou_threshold
        if classes is not None:
            survives |= classes[rest] != classes[best]
        remaining = rest[survives]
    return order[np.asarray(kept, dtype=np.int64)]
