"""One label per object by default: no box answered twice under two classes, sliced or not,
through POST /detect and DeepStack; multi_label still reports every class that passes."""

from __future__ import annotations

import io

import numpy as np
import pytest

from app.detector.decode import Candidates
from app.detector.nms import overlap
from app.detector.postprocess import SAME_OBJECT_IOU, DetectOptions, postprocess
from tests.conftest import b64, shared_path


def same_object_pairs(xyxy: list[list[float]], labels: list[str]) -> int:
    """Pairs of boxes with IoU >= 0.9 under different labels: one object counted twice."""
    boxes = np.array(xyxy, np.float64).reshape(-1, 4)
    iou = overlap(boxes[:, None], boxes[None])
    differ = np.array(labels)[:, None] != np.array(labels)[None]
    return int(np.triu((iou >= 0.9) & differ, 1).sum())


def detect_pairs(body: dict) -> int:
    found = body["detections"]
    boxes = [[d["box"][k] for k in ("x1", "y1", "x2", "y2")] for d in found]
    return same_object_pairs(boxes, [d["label"] for d in found])


def deepstack_pairs(body: dict) -> int:
    found = body["predictions"]
    boxes = [[p[k] for k in ("x_min", "y_min", "x_max", "y_max")] for p in found]
    return same_object_pairs(boxes, [p["label"] for p in found])


def test_default_detect_on_the_demo_counts_each_vehicle_once(client, demo_jpeg):
    body = client.post("/detect", json={"image": b64(demo_jpeg)}).get_json()
    assert body["slicing"]["tiles"] > 1  # the default request slices this image
    assert body["count"] > 10
    assert detect_pairs(body) == 0
    # The model does name some of these cars trucks too: every label, merged class-aware,
    # shows the pairs the defaults remove.
    every_label = {"multi_label": True, "slicing": {"class_agnostic": False}}
    multi = client.post("/detect", json={"image": b64(demo_jpeg), **every_label}).get_json()
    assert detect_pairs(multi) > 0


def test_default_deepstack_on_the_demo_counts_each_vehicle_once(client, demo_jpeg):
    response = client.post(
        "/v1/vision/detection", data={"image": (io.BytesIO(demo_jpeg), "demo.jpg")}
    )
    body = response.get_json()
    assert response.status_code == 200 and body["success"]
    assert body["count"] > 5
    assert deepstack_pairs(body) == 0


@pytest.mark.parametrize("name", ["000000001532.jpg", "000000009400.jpg"])
def test_whole_image_pass_reports_one_label_per_object(client, name):
    # Unsliced COCO images where the model scores one box as two classes above 0.1.
    data = shared_path("data", "coco-val2017-sample", "images", name).read_bytes()
    request = {"image": b64(data), "confidence": 0.1, "slicing": {"mode": "off"}}
    single = client.post("/detect", json=request).get_json()
    multi = client.post("/detect", json={**request, "multi_label": True}).get_json()
    assert "slicing" not in single
    assert detect_pairs(single) == 0 < detect_pairs(multi)


def _two_boxes(iou_like: float) -> Candidates:
    """Box 0: car 0.9 (truck 0.5); box 1 shifted right so that IoU(0, 1) ~ iou_like: truck 0.8."""
    shift = 100 * (1 - iou_like) / (1 + iou_like)  # IoU of [0, 100] and [s, 100 + s] squares
    xyxy = np.array([[0, 0, 100, 100], [shift, 0, 100 + shift, 100]], np.float32)
    scores = np.array([[0.9, 0.5], [0.0, 0.8]], np.float32)
    return Candidates(xyxy, scores)


@pytest.mark.parametrize(
    ("iou_like", "multi_label", "needs_nms", "expected"),
    [
        (0.95, False, True, [(0, 0.9)]),  # one object: the better label stays
        (0.95, False, False, [(0, 0.9)]),  # NMS-free layouts too
        (0.85, False, True, [(0, 0.9), (1, 0.8)]),  # two objects of two classes
        (0.85, False, False, [(0, 0.9), (1, 0.8)]),
        # every class that passes; NMS within the truck class drops box 0's truck score
        (0.95, True, True, [(0, 0.9), (1, 0.8)]),
        (0.95, True, False, [(0, 0.9), (1, 0.8), (0, 0.5)]),
    ],
)
def test_same_object_table(iou_like, multi_label, needs_nms, expected):
    """(box index, confidence) in output order, at confidence 0.3, NMS IoU 0.45."""
    candidates = _two_boxes(iou_like)
    assert overlap(*candidates.xyxy) == pytest.approx(iou_like, abs=1e-3)
    options = DetectOptions(confidence=0.3, iou=0.45, multi_label=multi_label)
    found = postprocess(candidates, options, needs_nms=needs_nms)
    boxes = [int(np.flatnonzero((candidates.xyxy == b).all(1))[0]) for b in found.xyxy]
    got = list(zip(boxes, [round(c, 3) for c in found.confidence.tolist()], strict=True))
    assert got == expected
    assert SAME_OBJECT_IOU < 0.95 and SAME_OBJECT_IOU > 0.85  # the table brackets it
