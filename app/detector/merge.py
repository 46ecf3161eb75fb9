"""Merging the boxes of overlapping views (tiles, whole image): NMS or greedy NMM, vectorised."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .detections import Detections
from .nms import greedy_match


def suppress_overlaps(found: Detections, kept: np.ndarray, owner: np.ndarray) -> Detections:
    """NMS: each kept box stands as it is; the boxes it took are dropped."""
    return found[kept]


def merge_overlaps(found: Detections, kept: np.ndarray, owner: np.ndarray) -> Detections:
    """Greedy NMM (SAHI's greedy_nmm): each kept box becomes the box enclosing all it took.

    Its score stays the group's maximum and its class the higher-scoring box's, which is the
    kept box's own: greedy_match keeps in score order.
    """
    reached = np.flatnonzero(owner >= 0)
    by_group = reached[np.argsort(owner[reached], kind="stable")]
    # Every kept box owns at least itself, so each group is a non-empty run of by_group.
    starts = np.searchsorted(owner[by_group], np.arange(len(kept)))
    xyxy = found.xyxy[by_group]
    corners = np.concatenate(
        [np.minimum.reduceat(xyxy[:, :2], starts), np.maximum.reduceat(xyxy[:, 2:], starts)],
        axis=1,
    )
    return Detections(corners, found.confidence[kept], found.class_id[kept])


MERGERS: dict[str, Callable[[Detections, np.ndarray, np.ndarray], Detections]] = {
    "nms": suppress_overlaps,
    "greedy_nmm": merge_overlaps,
}


def merge_detections(
    found: Detections,
    *,
    method: str = "nms",
    metric: str = "iou",
    threshold: float = 0.5,
    class_agnostic: bool = False,
    max_keep: int | None = None,
) -> Detections:
    """Merge duplicates from overlapping views; at most max_keep, highest confidence first.

    Two boxes match when their overlap (metric "iou", or "ios": intersection over the smaller
    box) exceeds threshold and, unless class_agnostic, they share a class. Stopping at
    max_keep is exact for both methods: a kept box only ever takes lower-scoring boxes.
    """
    if not len(found):
        return found
    kept, owner = greedy_match(
        found.xyxy,
        found.confidence,
        None if class_agnostic else found.class_id,
        threshold,
        max_keep=max_keep,
        metric=metric,
    )
    return MERGERS[method](found, kept, owner)
