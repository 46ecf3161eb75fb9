"""AP50 in numpy (app/tuning/ap.py) against pycocotools, on literal tables and random scenes."""

from __future__ import annotations

import numpy as np
import pytest

from app.tuning.ap import average_precision, best_f1, match_image
from tests.evaluation import coco_scores

# Each case: labelled boxes per image, and detections per image as (x1, y1, x2, y2, score).
CASES = {
    "perfect": ([[[0, 0, 10, 10]]], [[(0, 0, 10, 10, 0.9)]]),
    "miss one of two": ([[[0, 0, 10, 10], [20, 20, 30, 30]]], [[(0, 0, 10, 10, 0.9)]]),
    "false positive first": (
        [[[0, 0, 10, 10]]],
        [[(50, 50, 60, 60, 0.9), (0, 0, 10, 10, 0.5)]],
    ),
    "duplicate counts once": (
        [[[0, 0, 10, 10]]],
        [[(0, 0, 10, 10, 0.9), (0, 0, 10, 11, 0.8)]],
    ),
    "iou just under 0.5": ([[[0, 0, 10, 10]]], [[(0, 0, 10, 4.9, 0.9)]]),
    "iou exactly 0.5": ([[[0, 0, 10, 10]]], [[(0, 0, 10, 5, 0.9)]]),
    "best overlap wins": (
        [[[0, 0, 10, 10], [2, 0, 12, 10]]],
        [[(2, 0, 12, 10, 0.9), (0, 0, 10, 10, 0.8)]],
    ),
    "image with no labels": (
        [[[0, 0, 10, 10]], []],
        [[(0, 0, 10, 10, 0.5)], [(0, 0, 10, 10, 0.9)]],
    ),
    "image with no detections": ([[[0, 0, 10, 10]], [[5, 5, 20, 20]]], [[(0, 0, 10, 10, 0.5)], []]),
    "nothing detected": ([[[0, 0, 10, 10]]], [[]]),
    "inverted box is ignored": ([[[0, 0, 10, 10]]], [[(30, 30, 20, 40, 0.9), (0, 0, 10, 10, 0.5)]]),
    "score ties across images": (
        [[[0, 0, 10, 10]], [[0, 0, 10, 10]]],
        [[(40, 40, 50, 50, 0.7)], [(0, 0, 10, 10, 0.7)]],
    ),
}


def coco_ap50(truth: list[list], found: list[list], max_dets: int) -> float:
    """The same scene through pycocotools (tests/evaluation.py)."""
    images, annotations, predictions = [], [], []
    for image_id, (boxes, detections) in enumerate(zip(truth, found, strict=True), start=1):
        images.append({"id": image_id, "width": 1000, "height": 1000})
        for x1, y1, x2, y2 in boxes:
            w, h = x2 - x1, y2 - y1
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                 "bbox": [x1, y1, w, h], "area": w * h, "iscrowd": 0}
            )  # fmt: skip
        for x1, y1, x2, y2, score in detections:
            predictions.append(
                {"image_id": image_id, "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                 "score": score}
            )  # fmt: skip
    dataset = {"images": images, "annotations": annotations, "categories": [{"id": 1}]}
    return coco_scores(dataset, predictions, max_dets=max_dets)["ap50"]


def numpy_ap50(truth: list[list], found: list[list], max_dets: int) -> float:
    matches = []
    for boxes, detections in zip(truth, found, strict=True):
        rows = np.array(detections, np.float64).reshape(-1, 5)
        truth_xyxy = np.array(boxes, np.float64).reshape(-1, 4)
        matches.append(match_image(rows[:, :4], rows[:, 4], truth_xyxy, max_dets=max_dets))
    return average_precision(matches)


@pytest.mark.parametrize("name", sorted(CASES))
def test_ap50_matches_pycocotools_on_literal_cases(name):
    truth, found = CASES[name]
    expected = coco_ap50(truth, found, 100)
    assert numpy_ap50(truth, found, 100) == pytest.approx(expected, abs=1e-9)


def random_scene(rng: np.random.Generator, images: int) -> tuple[list, list]:
    """Small boxes, detections jittered around them (some far off, some duplicates, some
    missing) with random scores, and pure false positives."""
    truth, found = [], []
    for _ in range(images):
        count = int(rng.integers(0, 25))
        xy = rng.uniform(0, 900, (count, 2))
        wh = rng.uniform(8, 60, (count, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1)
        near = boxes[rng.random(count) < 0.8]
        near = np.concatenate([near, near[rng.random(len(near)) < 0.3]])
        near = near + rng.normal(0, 4, near.shape)
        noise_xy = rng.uniform(0, 900, (int(rng.integers(0, 30)), 2))
        noise = np.concatenate([noise_xy, noise_xy + rng.uniform(8, 60, noise_xy.shape)], axis=1)
        rows = np.concatenate([near, noise])
        scores = np.round(rng.random(len(rows)), 2)  # rounded: score ties happen
        truth.append(boxes.tolist())
        found.append([(*row, score) for row, score in zip(rows.tolist(), scores, strict=True)])
    return truth, found


@pytest.mark.parametrize(("seed", "images", "max_dets"), [(1, 5, 100), (2, 20, 100), (3, 12, 10)])
def test_ap50_matches_pycocotools_on_random_scenes(seed, images, max_dets):
    truth, found = random_scene(np.random.default_rng(seed), images)
    expected = coco_ap50(truth, found, max_dets)
    assert 0.05 < expected < 0.95  # a scene where matching and ranking both matter
    assert numpy_ap50(truth, found, max_dets) == pytest.approx(expected, abs=1e-9)


def test_ap50_is_nan_without_labelled_boxes():
    assert np.isnan(numpy_ap50([[]], [[(0, 0, 10, 10, 0.9)]], 100))


def test_best_f1_picks_the_threshold_of_best_balance():
    # Two objects found at 0.9 and 0.6; false positives at 0.8 and 0.3. At >= 0.6: P 2/3,
    # R 1, F1 0.8; at >= 0.9: P 1, R 1/2, F1 2/3; at >= 0.3: P 1/2, R 1, F1 2/3.
    truth = [[[0, 0, 10, 10], [20, 20, 30, 30]]]
    rows = np.array(
        [(0, 0, 10, 10, 0.9), (50, 50, 60, 60, 0.8), (20, 20, 30, 30, 0.6), (70, 70, 80, 80, 0.3)]
    )
    point = best_f1([match_image(rows[:, :4], rows[:, 4], np.array(truth[0], float))])
    assert point.confidence == pytest.approx(0.6)
    assert (point.precision, point.recall, point.f1) == pytest.approx((2 / 3, 1.0, 0.8))
