"""Which class a model names each labelled object as: what sits behind a low per-class AP.

Class-aware AP counts a bird found as a drone as a miss of the bird and a false drone; this
counts it once, as a bird named "drone". Matching is AP's, made class-agnostic: detections,
best first, each take the still unnamed labelled box they overlap most (IoU at least 0.5).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from .ap import greedy_match

MISSED = "missed"


def names_given(xyxy: np.ndarray, scores: np.ndarray, labels, truth_xyxy: np.ndarray) -> list[str]:
    """For each of the (G, 4) labelled boxes (xyxy image px), the label of the detection that
    matched it, or MISSED. Detections: (M, 4) xyxy image px, (M,) scores, M labels."""
    truth = np.asarray(truth_xyxy, np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, np.float64), kind="mergesort")
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)[order]
    named = [MISSED] * len(truth)
    for d, box in zip(order, greedy_match(boxes, truth), strict=True):
        if box >= 0:
            named[box] = str(labels[d])
    return named


def confusion(pairs) -> dict[str, Counter]:
    """{labelled class: Counter(name given -> count)} from (labelled class, name given) pairs."""
    table: dict[str, Counter] = {}
    for truth, given in pairs:
        table.setdefault(truth, Counter())[given] += 1
    return table
