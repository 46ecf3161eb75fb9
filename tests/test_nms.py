"""NMS and overlap maths on tiny literal arrays."""

from __future__ import annotations

import numpy as np
import pytest

from app.detector.nms import box_area, nms, overlap_one_to_many


@pytest.mark.parametrize(
    ("box", "others", "metric", "expected"),
    [
        ([0, 0, 10, 10], [[0, 0, 10, 10]], "iou", [1.0]),
        ([0, 0, 10, 10], [[5, 0, 15, 10]], "iou", [50 / 150]),
        ([0, 0, 10, 10], [[10, 10, 20, 20]], "iou", [0.0]),
        ([0, 0, 10, 10], [[2, 2, 4, 4]], "iou", [4 / 100]),
        ([0, 0, 10, 10], [[2, 2, 4, 4]], "ios", [1.0]),
        ([0, 0, 10, 10], [[5, 0, 25, 10]], "ios", [50 / 100]),
        ([0, 0, 0, 0], [[0, 0, 0, 0]], "iou", [0.0]),  # degenerate: no division by zero
    ],
)
def test_overlap_table(box, others, metric, expected):
    got = overlap_one_to_many(
        np.array(box, np.float32), np.array(others, np.float32), metric=metric
    )
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_box_area_clips_inverted_boxes():
    np.testing.assert_allclose(box_area(np.array([[0, 0, 2, 3], [5, 5, 4, 4]], float)), [6, 0])


BOXES = np.array(
    [
        [0, 0, 10, 10],  # 0: best
        [1, 0, 11, 10],  # 1: IoU 9/11 with 0
        [20, 20, 30, 30],  # 2: far away
        [0, 0, 10, 10],  # 3: identical to 0, other class
    ],
    np.float32,
)
SCORES = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
CLASSES = np.array([0, 0, 0, 1])


@pytest.mark.parametrize(
    ("class_id", "iou", "max_keep", "expected"),
    [
        (CLASSES, 0.5, None, [0, 2, 3]),  # class-aware: 3 survives beside 0
        (None, 0.5, None, [0, 2]),  # agnostic: 3 suppressed by 0
        (CLASSES, 0.85, None, [0, 1, 2, 3]),  # 9/11 = 0.818 is under the threshold
        (CLASSES, 0.5, 2, [0, 2]),  # the first max_keep of the full answer
        (CLASSES, 0.5, 1, [0]),
    ],
)
def test_nms_table(class_id, iou, max_keep, expected):
    keep = nms(BOXES, SCORES, class_id, iou, max_keep=max_keep)
    assert keep.tolist() == expected


def test_nms_orders_by_score_whatever_the_input_order():
    permutation = np.array([2, 3, 1, 0])
    keep = nms(BOXES[permutation], SCORES[permutation], CLASSES[permutation], 0.5)
    assert SCORES[permutation][keep].tolist() == pytest.approx([0.9, 0.7, 0.6])


def test_nms_matches_brute_force_on_random_boxes():
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 100, (300, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 30, (300, 2))], axis=1).astype(np.float32)
    scores = rng.uniform(0, 1, 300).astype(np.float32)
    classes = rng.integers(0, 3, 300)
    keep = nms(boxes, scores, classes, 0.4)

    expected = []
    for i in np.argsort(-scores):
        if all(
            classes[j] != classes[i] or overlap_one_to_many(boxes[j], boxes[i : i + 1])[0] <= 0.4
            for j in expected
        ):
            expected.append(i)
    assert keep.tolist() == expected


def test_nms_on_nothing():
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), None, 0.5).tolist() == []
