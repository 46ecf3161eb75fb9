"""COCO accuracy of each real model through POST /detect, against the independent reference."""

from __future__ import annotations

import pytest

from app import create_app
from tests.conftest import b64, shared_path
from tests.evaluation import coco_scores, load_coco_json, to_coco_predictions

# ../shared/README.md: independent pipeline, multi-label, confidence 0.001, IoU 0.65, <= 300 boxes.
REFERENCE = {
    "yolox_nano": {"ap": 0.347, "ap50": 0.526, "ap_small": 0.125},
    "yolov8n_int8": {"ap": 0.459, "ap50": 0.635, "ap_small": 0.275},
    "yolo26n_int8": {"ap": 0.442, "ap50": 0.651, "ap_small": 0.228},
}
TOLERANCE_AP = 0.01
# The reference's settings; multi_label is asked for: the service answers one label per box.
REFERENCE_SETTINGS = {"confidence": 0.001, "iou": 0.65, "max_detections": 300, "multi_label": True}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_coco_sample_matches_reference(load_shared_model, name):
    root = shared_path("data", "coco-val2017-sample")
    truth = load_coco_json(root / "instances.json")
    categories = sorted(c["id"] for c in truth["categories"])
    client = create_app(model=load_shared_model(name)).test_client()
    predictions = []
    for image in truth["images"]:
        data = (root / "images" / image["file_name"]).read_bytes()
        request = {"image": b64(data), **REFERENCE_SETTINGS}
        response = client.post("/detect", json=request)
        assert response.status_code == 200
        body = response.get_json()
        assert (body["image"]["width"], body["image"]["height"]) == (
            image["width"],
            image["height"],
        )
        predictions += to_coco_predictions(image["id"], body["detections"], categories.__getitem__)
    scores = coco_scores(truth, predictions)
    print(name, {k: round(v, 4) for k, v in scores.items()})
    assert scores["ap"] == pytest.approx(REFERENCE[name]["ap"], abs=TOLERANCE_AP)
    assert scores["ap50"] == pytest.approx(REFERENCE[name]["ap50"], abs=TOLERANCE_AP)
