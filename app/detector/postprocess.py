"""Candidates -> final Detections: thresholds, class filter, labels per box, NMS, top-k."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .decode import Candidates
from .detections import Detections
from .nms import nms
from .slicing import SlicingOptions

# Most candidates fed to NMS, best first (the Ultralytics convention): bounds the cost of a
# confidence of 0.001 on a model with thousands of rows.
MAX_NMS_CANDIDATES = 30_000
# With one label per box, two boxes of different classes overlapping by more than this are one
# object the model could not name for sure (a car that is also a truck): only the better stays.
SAME_OBJECT_IOU = 0.9


@dataclass(frozen=True)
class DetectOptions:
    """Per-request detection settings.

    multi_label: a box may be reported once per class whose score reaches `confidence`
    (how COCO mAP is measured); False (the default, as Ultralytics, Roboflow and DeepStack
    answer) keeps only each box's best class, so one object is one detection.
    agnostic: NMS across classes instead of within each class.
    class_ids: keep only these classes (applied before NMS); None keeps all.
    slicing: small-object mode (tiles + merge, see slicing.py); None (or mode "off") runs the
    model once on the whole image.
    flip: the test-time flip (flip.py): every view also mirrored, the two answers fused.
    """

    confidence: float = 0.25
    iou: float = 0.45
    max_detections: int = 300
    class_ids: frozenset[int] | None = None
    multi_label: bool = False
    agnostic: bool = False
    slicing: SlicingOptions | None = None
    flip: bool = False


def select_labels(candidates: Candidates, options: DetectOptions) -> Detections:
    """Turn (M, C) class scores into one detection per (box, class) that passes."""
    scores = candidates.class_scores
    if options.class_ids is not None:
        allowed = np.zeros(scores.shape[1], dtype=bool)
        ids = [i for i in options.class_ids if 0 <= i < scores.shape[1]]
        allowed[ids] = True
        scores = np.where(allowed, scores, 0)
    if options.multi_label:
        rows, cols = np.nonzero(scores >= options.confidence)
        confidence = scores[rows, cols]
    else:
        cols = scores.argmax(axis=1)
        confidence = scores[np.arange(len(scores)), cols]
        rows = np.flatnonzero(confidence >= options.confidence)
        cols, confidence = cols[rows], confidence[rows]
    detections = Detections.from_arrays(candidates.xyxy[rows], confidence, cols)
    if len(detections) > MAX_NMS_CANDIDATES:
        top = np.argpartition(-detections.confidence, MAX_NMS_CANDIDATES)[:MAX_NMS_CANDIDATES]
        detections = detections[top]
    return detections


def suppress(detections: Detections, options: DetectOptions, *, needs_nms: bool) -> Detections:
    """NMS (when the layout needs it), then the best max_detections, highest confidence first.

    With one label per box (not multi_label), a box that overlaps a better one of another class
    by more than SAME_OBJECT_IOU goes too, NMS-free layouts included: one object, one label.
    """
    same_object = None if options.multi_label else SAME_OBJECT_IOU
    if not needs_nms and same_object is None:
        return detections.sorted_by_confidence()[: options.max_detections]
    keep = nms(
        detections.xyxy,
        detections.confidence,
        None if options.agnostic else detections.class_id,
        options.iou if needs_nms else 1.0,  # NMS-free: no overlap within a class is "above 1"
        max_keep=options.max_detections,
        any_class_threshold=same_object,
    )
    return detections[keep]


def postprocess(candidates: Candidates, options: DetectOptions, *, needs_nms: bool) -> Detections:
    return suppress(select_labels(candidates, options), options, needs_nms=needs_nms)
