"""Each output layout's decoder on hand-made arrays, and the post-processing rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.detector.decode import (
    Candidates,
    decode_end2end,
    decode_ultralytics,
    decode_yolov5,
    decode_yolox,
    grid_and_strides,
    grid_cells,
)
from app.detector.postprocess import DetectOptions, postprocess, select_labels


def test_grid_cells_and_order():
    assert grid_cells((416, 416)) == 52 * 52 + 26 * 26 + 13 * 13 == 3549
    assert grid_cells((640, 640)) == 8400
    grid, stride = grid_and_strides((64, 32))  # 8x4 + 4x2 + 2x1 cells, row-major per stride
    assert len(grid) == 32 + 8 + 2
    assert grid[:3].tolist() == [[0, 0], [1, 0], [2, 0]]
    assert grid[8].tolist() == [0, 1]
    assert stride[[0, 31, 32, 40, 41]].ravel().tolist() == [8, 8, 16, 32, 32]


def test_decode_yolox_grid_offsets_and_log_sizes():
    output = np.zeros((1, 3549, 7), np.float32)  # 2 classes
    # Cell (x=1, y=0) at stride 8: centre (1 + 0.5) * 8 = 12, 0.5 * 8 = 4; size e^ln2 * 8 = 16.
    output[0, 1] = [0.5, 0.5, math.log(2), math.log(2), 0.5, 0.2, 0.9]
    # First stride-16 cell, (x=0, y=0): centre 0.5*16 = 8; size e^0 * 16 = 16.
    output[0, 52 * 52] = [0.5, 0.5, 0, 0, 1.0, 0.6, 0.0]
    got = decode_yolox(output, (416, 416), 0.3, 2)
    np.testing.assert_allclose(got.xyxy, [[4, -4, 20, 12], [0, 0, 16, 16]], atol=1e-5)
    np.testing.assert_allclose(got.class_scores, [[0.1, 0.45], [0.6, 0.0]], atol=1e-6)


def test_decode_yolov5_objectness_times_class():
    output = np.zeros((1, 2, 7), np.float32)
    output[0, 0] = [50, 40, 20, 10, 0.5, 0.9, 0.1]
    output[0, 1] = [10, 10, 4, 4, 0.1, 0.9, 0.9]  # 0.09 < threshold
    got = decode_yolov5(output, (64, 64), 0.2, 2)
    np.testing.assert_allclose(got.xyxy, [[40, 35, 60, 45]])
    np.testing.assert_allclose(got.class_scores, [[0.45, 0.05]], atol=1e-6)


def test_decode_ultralytics_columns():
    output = np.zeros((1, 6, 3), np.float32)  # 2 classes, 3 anchors
    output[0, :, 0] = [100, 100, 50, 20, 0.8, 0.1]
    output[0, :, 2] = [10, 20, 2, 2, 0.05, 0.3]
    got = decode_ultralytics(output, (640, 640), 0.25, 2)
    np.testing.assert_allclose(got.xyxy, [[75, 90, 125, 110], [9, 19, 11, 21]])
    np.testing.assert_allclose(got.class_scores, [[0.8, 0.1], [0.05, 0.3]])


def test_decode_end2end_one_hot():
    output = np.array([[[1, 2, 3, 4, 0.9, 2], [5, 6, 7, 8, 0.1, 0], [0, 0, 9, 9, 0.5, 0]]])
    got = decode_end2end(output.astype(np.float32), (640, 640), 0.3, 3)
    np.testing.assert_allclose(got.xyxy, [[1, 2, 3, 4], [0, 0, 9, 9]])
    np.testing.assert_allclose(got.class_scores, [[0, 0, 0.9], [0.5, 0, 0]])


CANDIDATES = Candidates(
    np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32),
    np.array([[0.9, 0.6, 0.0], [0.8, 0.0, 0.0], [0.0, 0.3, 0.2]], np.float32),
)


def _multi(**options) -> DetectOptions:
    return DetectOptions(multi_label=True, **options)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        # multi-label: box 0 reported as class 0 and class 1; box 1 suppressed by box 0 (class 0)
        (_multi(confidence=0.25, iou=0.5), [(0, 0.9), (0, 0.6), (2, 0.3)]),
        # the default: one label per box, its best class
        (DetectOptions(confidence=0.25, iou=0.5), [(0, 0.9), (2, 0.3)]),
        (_multi(confidence=0.25, iou=0.5, agnostic=True), [(0, 0.9), (2, 0.3)]),
        (_multi(confidence=0.25, iou=0.95), [(0, 0.9), (1, 0.8), (0, 0.6), (2, 0.3)]),
        (DetectOptions(confidence=0.25, iou=0.95), [(0, 0.9), (1, 0.8), (2, 0.3)]),
        (_multi(confidence=0.5, iou=0.5), [(0, 0.9), (0, 0.6)]),
        (DetectOptions(confidence=0.1, iou=0.5, class_ids=frozenset({1})), [(0, 0.6), (2, 0.3)]),
        (DetectOptions(confidence=0.1, iou=0.5, class_ids=frozenset({2})), [(2, 0.2)]),
        (_multi(confidence=0.1, iou=0.5, max_detections=2), [(0, 0.9), (0, 0.6)]),
    ],
)
def test_postprocess_table(options, expected):
    """(box index, confidence) in output order."""
    got = postprocess(CANDIDATES, options, needs_nms=True)
    box_index = [int(np.flatnonzero((CANDIDATES.xyxy == b).all(1))[0]) for b in got.xyxy]
    confidence = [round(c, 3) for c in got.confidence.tolist()]
    assert list(zip(box_index, confidence, strict=True)) == expected


def test_no_nms_layout_keeps_overlaps_and_cuts_to_max():
    got = postprocess(CANDIDATES, DetectOptions(confidence=0.5, max_detections=2), needs_nms=False)
    assert got.confidence.tolist() == pytest.approx([0.9, 0.8])


def test_class_filter_ignores_ids_beyond_the_score_columns():
    got = select_labels(CANDIDATES, DetectOptions(confidence=0.1, class_ids=frozenset({1, 99})))
    assert set(got.class_id.tolist()) == {1}


def _full_product_reference(output: np.ndarray, confidence: float) -> np.ndarray:
    """Rows kept when every row's objectness x class product is computed (no shortcut)."""
    scores = output[0][:, 4:5] * output[0][:, 5:]
    return np.flatnonzero(scores.max(axis=1) >= confidence)


@pytest.mark.parametrize("confidence", [0.001, 0.25, 0.5, 0.99])
@pytest.mark.parametrize("decoder", [decode_yolox, decode_yolov5])
def test_objectness_shortcut_keeps_exactly_the_rows_the_full_product_keeps(decoder, confidence):
    rng = np.random.default_rng(7)
    output = rng.random((1, 3549, 85), dtype=np.float32)  # objectness and classes in [0, 1)
    output[0, :, 4] **= 4  # mostly low objectness, as real outputs are
    output[0, 10, 4:6] = [confidence, 1.0]  # a score exactly at the threshold is kept
    kept = _full_product_reference(output, confidence)

    got = decoder(output, (416, 416), confidence, 80)

    expected_scores = output[0][kept, 4:5] * output[0][kept, 5:]
    np.testing.assert_array_equal(got.class_scores, expected_scores)
    assert 10 in kept
