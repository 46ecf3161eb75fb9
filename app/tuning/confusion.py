"""Which class a model names each labelled object as: what sits behind a low per-class AP.

Class-aware AP counts a bird found as a drone as a miss of the bird and a false drone; this
counts it once, as a bird named "drone". Matching is AP's, made class-agnostic: detections,
best first, each take the still unnamed labelled box they overlap most (IoU at least 0.5).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..detector.nms import overlap
from .ap import IOU_THRESHOLD

MISSED = "missed"


def names_given(xyxy: np.ndarray, scores: np.ndarray, labels, truth_xyxy: np.ndarray) -> list[str]:
    """For each of the (G, 4) labelled boxes (xyxy image px), the label of the detection that
    matched it, or MISSED. Detections: (M, 4) xyxy image px, (M,) scores, M labels."""
    truth = np.asarray(truth_xyxy, np.float64).reshape(-1, 4)
    named = [MISSED] * len(truth)
    if not len(truth) or not len(scores):
        return named
    order = np.argsort(-np.asarray(scores, np.float64), kind="mergesort")
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)[order]
    ious = overlap(boxes[:, None, :], truth[None, :, :])
    taken = np.zeros(len(truth), bool)
    for rank, d in enumerate(order):
        row = np.where(taken, -1.0, ious[rank])
        best = int(np.argmax(row))
        if row[best] >= IOU_THRESHOLD:
            taken[best] = True
            named[best] = str(labels[d])
    return named


def confusion(pairs) -> dict[str, Counter]:
    """{labelled class: Counter(name given -> count)} from (labelled class, name given) pairs."""
    table: dict[str, Counter] = {}
    for truth, given in pairs:
        table.setdefault(truth, Counter())[given] += 1
    return table
