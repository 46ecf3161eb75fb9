"""Merging overlapping views: NMS vs greedy NMM, IoU vs IoS, class-aware vs agnostic."""

from __future__ import annotations

import numpy as np
import pytest

from app.detector import Detections
from app.detector.merge import merge_detections
from app.detector.nms import greedy_match, overlap_one_to_many

A = [0, 0, 10, 10]
B = [1, 0, 11, 10]  # with A: IoU 90/110 = 0.82, IoS 0.9
C = [2, 2, 6, 6]  # inside A: IoU 0.16, IoS 1.0
D = [0, 0, 10, 10]  # A's box, another class
E = [30, 30, 40, 40]  # far from everything
FOUND = Detections.from_arrays([A, B, C, D, E], [0.9, 0.8, 0.7, 0.6, 0.5], [0, 0, 0, 1, 0])
MERGED_AB = [0, 0, 11, 10]
MERGED_ABCD = [0, 0, 11, 10]


@pytest.mark.parametrize(
    ("method", "metric", "agnostic", "boxes", "scores", "classes"),
    [
        ("nms", "iou", False, [A, C, D, E], [0.9, 0.7, 0.6, 0.5], [0, 0, 1, 0]),
        ("nms", "iou", True, [A, C, E], [0.9, 0.7, 0.5], [0, 0, 0]),
        ("nms", "ios", False, [A, D, E], [0.9, 0.6, 0.5], [0, 1, 0]),
        ("nms", "ios", True, [A, E], [0.9, 0.5], [0, 0]),
        ("greedy_nmm", "iou", False, [MERGED_AB, C, D, E], [0.9, 0.7, 0.6, 0.5], [0, 0, 1, 0]),
        ("greedy_nmm", "iou", True, [MERGED_AB, C, E], [0.9, 0.7, 0.5], [0, 0, 0]),
        ("greedy_nmm", "ios", False, [MERGED_AB, D, E], [0.9, 0.6, 0.5], [0, 1, 0]),
        ("greedy_nmm", "ios", True, [MERGED_ABCD, E], [0.9, 0.5], [0, 0]),
    ],
)
def test_merge_table(method, metric, agnostic, boxes, scores, classes):
    got = merge_detections(
        FOUND, method=method, metric=metric, threshold=0.5, class_agnostic=agnostic
    )
    np.testing.assert_array_equal(got.xyxy, np.array(boxes, np.float32))
    np.testing.assert_allclose(got.confidence, scores)
    assert got.class_id.tolist() == classes


def test_nmm_takes_the_class_and_score_of_the_best_box():
    found = Detections.from_arrays([[0, 0, 10, 10], [0, 0, 12, 10]], [0.4, 0.95], [2, 7])
    got = merge_detections(found, method="greedy_nmm", threshold=0.5, class_agnostic=True)
    assert got.xyxy.tolist() == [[0, 0, 12, 10]]
    assert got.confidence.tolist() == pytest.approx([0.95])
    assert got.class_id.tolist() == [7]


def test_nmm_boxes_taken_by_an_earlier_box_do_not_grow_a_later_one():
    # B matches both A and C; A keeps first, so B grows A only, and C stays as it was.
    found = Detections.from_arrays(
        [[0, 0, 10, 10], [3, 0, 13, 10], [6, 0, 16, 10]], [0.9, 0.8, 0.7], [0, 0, 0]
    )
    got = merge_detections(found, method="greedy_nmm", metric="iou", threshold=0.3)
    assert got.xyxy.tolist() == [[0, 0, 13, 10], [6, 0, 16, 10]]


@pytest.mark.parametrize("method", ["nms", "greedy_nmm"])
def test_max_keep_cuts_the_full_answer(method):
    full = merge_detections(FOUND, method=method, threshold=0.5)
    for keep in range(1, len(full) + 1):
        cut = merge_detections(FOUND, method=method, threshold=0.5, max_keep=keep)
        np.testing.assert_array_equal(cut.xyxy, full.xyxy[:keep])


def test_merge_of_nothing():
    assert len(merge_detections(Detections.empty(), method="greedy_nmm")) == 0


def brute_force_match(boxes, scores, classes, threshold, metric, max_keep=None):
    """The greedy definition, pair by pair: (kept, owner); stops once max_keep are kept."""
    owner = np.full(len(boxes), -1)
    kept = []
    for i in np.argsort(-scores, kind="stable"):
        if len(kept) == max_keep:
            break
        if owner[i] >= 0:
            continue
        owner[i] = len(kept)
        values = overlap_one_to_many(boxes[i], boxes, metric=metric)
        for j in range(len(boxes)):
            same = classes is None or classes[i] == classes[j]
            if owner[j] < 0 and same and values[j] > threshold:
                owner[j] = len(kept)
        kept.append(i)
    return kept, owner


@pytest.mark.parametrize("metric", ["iou", "ios"])
@pytest.mark.parametrize("agnostic", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_greedy_match_equals_the_pairwise_definition(metric, agnostic, seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 120, (150, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(2, 60, (150, 2))], axis=1).astype(np.float32)
    scores = rng.uniform(0, 1, 150).astype(np.float32)
    classes = None if agnostic else rng.integers(0, 3, 150)
    kept, owner = greedy_match(boxes, scores, classes, 0.4, metric=metric)
    expected_kept, expected_owner = brute_force_match(boxes, scores, classes, 0.4, metric)
    assert kept.tolist() == expected_kept
    assert owner.tolist() == expected_owner.tolist()


@pytest.mark.parametrize("metric", ["iou", "ios"])
@pytest.mark.parametrize("agnostic", [False, True])
@pytest.mark.parametrize(
    "max_keep", [None, 1, 63, 64, 65, 100]
)  # cut inside the first block, at its edge, past it
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.65])
def test_blocked_greedy_match_equals_the_definition_across_blocks(
    metric, agnostic, max_keep, threshold
):
    """Dense clusters, so boxes of one block take boxes of later blocks; ties in score; a few
    zero-area boxes (which match nothing, not even themselves)."""
    rng = np.random.default_rng(11)
    centres = rng.uniform(0, 400, (25, 2))
    xy = centres[rng.integers(0, 25, 400)] + rng.normal(0, 6, (400, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(8, 40, (400, 2))], axis=1).astype(np.float32)
    boxes[::37, 2:] = boxes[::37, :2]  # zero area
    scores = np.round(rng.uniform(0, 1, 400), 2).astype(np.float32)  # ties
    classes = None if agnostic else rng.integers(0, 2, 400)

    kept, owner = greedy_match(boxes, scores, classes, threshold, metric=metric, max_keep=max_keep)

    expected_kept, expected_owner = brute_force_match(
        boxes, scores, classes, threshold, metric, max_keep
    )
    assert kept.tolist() == expected_kept
    assert owner.tolist() == expected_owner.tolist()
    if max_keep is None or max_keep > 64:  # the case blocks make special: past the first 64
        beyond_first_block = np.argsort(-scores, kind="stable")[64:]
        assert (owner[beyond_first_block] >= 0).any()
