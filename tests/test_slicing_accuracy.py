"""Small-object accuracy of sliced inference through POST /detect, against the reference.

../shared/README.md scores the aerial sample (40 drone images, vehicles of ~20-55 px) with an
independent pipeline: confidence 0.001, NMS IoU 0.65 in each tile and on the whole image, COCO
car/bus/truck only, the union merged by NMS at IoU 0.5, <= 500 boxes, one "vehicle" class.
"""

from __future__ import annotations

import pytest

from app import create_app
from tests.conftest import b64, shared_path
from tests.evaluation import coco_scores, to_coco_predictions, yolo_labels_to_coco

# (whole image, tiles + whole image class-aware, class-agnostic) AP50, and the gain required.
REFERENCE_AP50 = {
    "yolox_nano": {"whole": 0.062, "aware": 0.271, "agnostic": 0.324, "gain": 2.5},
    "yolov8n_int8": {"whole": 0.128, "aware": 0.318, "agnostic": 0.366, "gain": 2.0},
}
TOLERANCE_AP = 0.01
REQUEST = {
    "confidence": 0.001,
    "iou": 0.65,
    "classes": ["car", "bus", "truck"],
    "max_detections": 500,
    "multi_label": True,  # as the reference (the service's default is one label per box)
}


@pytest.fixture(scope="module")
def aerial():
    root = shared_path("data", "aerial-cars-sample")
    truth = yolo_labels_to_coco(root / "images", root / "labels", "vehicle")
    images = {image["id"]: (root / "images" / image["file_name"]) for image in truth["images"]}
    return truth, images


def scores_through_api(model, aerial, slicing: dict) -> dict:
    truth, images = aerial
    client = create_app(model=model).test_client()
    predictions = []
    for image in truth["images"]:
        request = {"image": b64(images[image["id"]].read_bytes()), **REQUEST, "slicing": slicing}
        response = client.post("/detect", json=request)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert (body["image"]["width"], body["image"]["height"]) == (
            image["width"],
            image["height"],
        )
        predictions += to_coco_predictions(image["id"], body["detections"], lambda _: 1)
    return coco_scores(truth, predictions, max_dets=500)


@pytest.fixture(scope="module")
def whole_image_ap50(load_shared_model, aerial):
    cache: dict[str, float] = {}

    def ap50(name: str) -> float:
        if name not in cache:
            scores = scores_through_api(load_shared_model(name), aerial, {"mode": "off"})
            print(name, "whole image", {k: round(v, 4) for k, v in scores.items()})
            cache[name] = scores["ap50"]
        return cache[name]

    return ap50


@pytest.mark.parametrize("name", sorted(REFERENCE_AP50))
def test_whole_image_ap50_matches_reference(whole_image_ap50, name):
    assert whole_image_ap50(name) == pytest.approx(REFERENCE_AP50[name]["whole"], abs=TOLERANCE_AP)


@pytest.mark.parametrize("class_agnostic", [False, True], ids=["aware", "agnostic"])
@pytest.mark.parametrize("name", sorted(REFERENCE_AP50))
def test_sliced_ap50_reaches_reference(
    load_shared_model, aerial, whole_image_ap50, name, class_agnostic
):
    slicing = {
        "mode": "on",  # the reference slices every image, even the 684 x 547 ones
        "overlap": 0.2,
        "whole_image": True,
        "merge": "nms",
        "match_metric": "iou",
        "match_threshold": 0.5,
        "class_agnostic": class_agnostic,
    }  # tiles default to the model input: 416 px (YOLOX-Nano), 640 px (YOLOv8n)
    scores = scores_through_api(load_shared_model(name), aerial, slicing)
    print(name, "sliced", slicing["class_agnostic"], {k: round(v, 4) for k, v in scores.items()})
    reference = REFERENCE_AP50[name]
    assert scores["ap50"] >= reference["agnostic" if class_agnostic else "aware"] - TOLERANCE_AP
    assert scores["ap50"] >= reference["gain"] * whole_image_ap50(name)
