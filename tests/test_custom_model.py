"""A fine-tuned model dropped in (docs/tuning.md): a 10-class Ultralytics export carrying
VisDrone's class names in its metadata is served with those names, no labels file needed."""

from __future__ import annotations

import numpy as np
import pytest

from app import create_app
from app.cli.detect import UsageError
from app.cli.tune import class_payload
from app.detector import load_model
from tests.conftest import b64, encode_image
from tests.onnx_graphs import constant_output_model

VISDRONE = (
    "pedestrian", "people", "bicycle", "car", "van",
    "truck", "tricycle", "awning-tricycle", "bus", "motor",
)  # fmt: skip
INPUT_PX = 64


def visdrone_output() -> np.ndarray:
    """Ultralytics layout [1, 4 + 10, N]: one van at (16, 16, 20 x 12) and one bus at
    (44, 40, 16 x 16) in input px, each with one class score; every other row empty."""
    rows = np.zeros((1, 4 + len(VISDRONE), 84), np.float32)
    rows[0, :4, 0] = (16, 16, 20, 12)
    rows[0, 4 + VISDRONE.index("van"), 0] = 0.8
    rows[0, :4, 1] = (44, 40, 16, 16)
    rows[0, 4 + VISDRONE.index("bus"), 1] = 0.6
    return rows


@pytest.fixture(scope="module")
def visdrone_path(tmp_path_factory):
    metadata = {"names": str(dict(enumerate(VISDRONE))), "imgsz": f"[{INPUT_PX}, {INPUT_PX}]"}
    path = tmp_path_factory.mktemp("model") / "visdrone_yolo.onnx"
    return constant_output_model(
        path, visdrone_output(), input_shape=[1, 3, INPUT_PX, INPUT_PX], metadata=metadata
    )


@pytest.fixture(scope="module")
def client(visdrone_path):
    # As the server loads a model dropped in at MODEL_PATH.
    app = create_app({"model_path": visdrone_path}, fail_fast=True)
    return app.test_client()


def test_model_route_lists_the_metadata_class_names(client):
    body = client.get("/model").get_json()
    assert body["labels"] == list(VISDRONE)
    assert (body["format"], body["num_classes"]) == ("ultralytics", 10)


def test_detect_answers_with_the_metadata_class_names(client):
    image = np.zeros((INPUT_PX, INPUT_PX, 3), np.uint8)
    response = client.post("/detect", json={"image": b64(encode_image(image, "PNG"))})
    assert response.status_code == 200, response.get_json()
    found = {d["label"]: d for d in response.get_json()["detections"]}
    assert set(found) == {"van", "bus"}
    assert found["van"]["box"] == {"x1": 6.0, "y1": 10.0, "x2": 26.0, "y2": 22.0}
    assert found["bus"]["class_id"] == VISDRONE.index("bus")


def test_classes_are_asked_for_by_their_visdrone_names(client, visdrone_path):
    image = b64(encode_image(np.zeros((INPUT_PX, INPUT_PX, 3), np.uint8), "PNG"))
    body = client.post("/detect", json={"image": image, "classes": ["bus"]}).get_json()
    assert [d["label"] for d in body["detections"]] == ["bus"]
    model = load_model(visdrone_path)
    assert class_payload("van,bus", model) == {"classes": ["van", "bus"]}
    with pytest.raises(UsageError, match="unknown class 'motorcycle'; visdrone_yolo knows 10"):
        class_payload("motorcycle", model)
