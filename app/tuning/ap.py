"""AP50 the COCO way (pycocotools' rules, one class-agnostic category), in numpy.

Per image, detections are matched in score order to the unmatched labelled box of highest IoU
(at least 0.5); over all images, precision is interpolated at 101 recall points and averaged.
tests/test_tuning_ap.py checks it against pycocotools.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..detector.nms import overlap

IOU_THRESHOLD = 0.5
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


@dataclass(frozen=True)
class ImageMatches:
    """One image's detections after matching: (M,) float64 scores, highest first, (M,) bool
    true positives, and the number of labelled boxes."""

    scores: np.ndarray
    true_positive: np.ndarray
    labelled: int


def greedy_match(boxes: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """For (M, 4) detections, best first, and (G, 4) labelled boxes (xyxy image px): the index
    of the labelled box each detection takes, or -1. Each detection in turn takes the still
    unmatched box it overlaps most, if that IoU is at least 0.5 (ties: the later box, as
    pycocotools)."""
    matched = np.full(len(boxes), -1)
    if not len(truth) or not len(boxes):
        return matched
    ious = overlap(boxes[:, None, :], truth[None, :, :])
    taken = np.zeros(len(truth), bool)
    # Only detections that reach 0.5 with some box can match: the rest are false positives.
    for d in np.flatnonzero(ious.max(axis=1) >= IOU_THRESHOLD):
        row = np.where(taken, -1.0, ious[d])
        best = len(row) - 1 - int(np.argmax(row[::-1]))  # the last of equal maxima
        if row[best] >= IOU_THRESHOLD:
            taken[best] = True
            matched[d] = best
    return matched


def match_image(
    xyxy: np.ndarray, scores: np.ndarray, truth_xyxy: np.ndarray, *, max_dets: int = 100
) -> ImageMatches:
    """Match (M, 4) detections with scores (M,) to (G, 4) labelled boxes, all xyxy image px.

    Keeps the max_dets best detections (pycocotools' maxDets); each one, best first, takes the
    still unmatched box it overlaps most, if that IoU is at least 0.5 (ties: the later box,
    as pycocotools).
    """
    order = np.argsort(-np.asarray(scores, np.float64), kind="mergesort")[:max_dets]
    boxes = np.asarray(xyxy, np.float64)[order]
    truth = np.asarray(truth_xyxy, np.float64).reshape(-1, 4)
    hit = greedy_match(boxes, truth) >= 0
    # pycocotools ignores unmatched detections of area outside [0, 1e10] (inverted boxes).
    signed_area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    counted = hit | ((signed_area >= 0) & (signed_area <= 1e10))
    ranked = np.asarray(scores, np.float64)[order]
    return ImageMatches(ranked[counted], hit[counted], len(truth))


def pooled(images: list[ImageMatches]) -> tuple[np.ndarray, np.ndarray, int]:
    """All images' (scores, true positives) in pycocotools' order (highest first, stable over
    image order), and the number of labelled boxes."""
    if not images:
        return np.zeros(0), np.zeros(0, bool), 0
    scores = np.concatenate([m.scores for m in images])
    hits = np.concatenate([m.true_positive for m in images])
    order = np.argsort(-scores, kind="mergesort")
    return scores[order], hits[order], sum(m.labelled for m in images)


def average_precision(images: list[ImageMatches]) -> float:
    """COCO-style AP at IoU 0.5 over these images: 101-point interpolated precision.

    Returns nan when no image has a labelled box (pycocotools' -1: nothing to find).
    """
    _, hits, labelled = pooled(images)
    if labelled == 0:
        return float("nan")
    if not len(hits):
        return 0.0
    tp = np.cumsum(hits)
    fp = np.cumsum(~hits)
    recall = tp / labelled
    precision = tp / (tp + fp + np.spacing(1))
    # Precision envelope: the best precision at this recall or any higher one.
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    at = np.searchsorted(recall, RECALL_POINTS, side="left")
    sampled = np.where(at < len(precision), precision[np.minimum(at, len(precision) - 1)], 0.0)
    return float(sampled.mean())


@dataclass(frozen=True)
class OperatingPoint:
    """The confidence threshold of best F1, with its precision and recall."""

    confidence: float
    f1: float
    precision: float
    recall: float


def best_f1(images: list[ImageMatches], *, decimals: int = 2) -> OperatingPoint:
    """The confidence, rounded down to `decimals`, whose detections at or above it give the best
    F1 on these images (rounding down keeps every detection the exact threshold kept)."""
    scores, hits, labelled = pooled(images)
    if labelled == 0 or not len(scores):
        return OperatingPoint(0.25, 0.0, 0.0, 0.0)
    step = 10.0**-decimals
    thresholds = np.unique(np.maximum(np.floor(scores / step) * step, step))
    tp = np.array([hits[scores >= t].sum() for t in thresholds], np.float64)
    kept = np.array([(scores >= t).sum() for t in thresholds], np.float64)
    precision, recall = tp / np.maximum(kept, 1), tp / labelled
    f1 = np.where(tp > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    best = int(np.argmax(f1))
    confidence = round(float(thresholds[best]), decimals)
    return OperatingPoint(confidence, float(f1[best]), float(precision[best]), float(recall[best]))
