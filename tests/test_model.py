"""Model loading: layout detection, input size, class names; a hand-built YOLOv5 end to end."""

from __future__ import annotations

import numpy as np
import pytest

from app import create_app
from app.detector import ModelError, load_model
from app.detector.labels import COCO80, names_from_metadata, resolve_class_names
from app.detector.model import detect_layout, parse_imgsz
from tests.conftest import b64, encode_image, shared_path
from tests.onnx_graphs import constant_output_model


@pytest.mark.parametrize(
    ("output_shape", "input_wh", "metadata", "expected"),
    [
        ((1, 3549, 85), (416, 416), {}, "yolox"),
        ((1, 8400, 85), (640, 640), {}, "yolox"),
        ((1, 25200, 85), (640, 640), {}, "yolov5"),
        ((1, 10647, 85), (416, 416), {}, "yolov5"),
        ((1, 84, 8400), (640, 640), {}, "ultralytics"),
        ((1, 5, 8400), (640, 640), {}, "ultralytics"),  # one class
        ((1, 300, 6), (640, 640), {}, "end2end"),
        ((1, 300, 6), (640, 640), {"end2end": "True"}, "end2end"),
        ((1, 3000, 6), (640, 640), {"end2end": "True"}, "end2end"),  # metadata wins
    ],
)
def test_detect_layout_table(output_shape, input_wh, metadata, expected):
    assert detect_layout(output_shape, input_wh, metadata) == expected


@pytest.mark.parametrize("shape", [(1, 1000, 85), (1, 10), (1, 3, 4), (2, 7, 7, 7)])
def test_unknown_layout_names_the_shapes(shape):
    with pytest.raises(ModelError) as caught:
        detect_layout(shape, (640, 640), {})
    assert str(list(shape)) in caught.value.message
    assert "MODEL_FORMAT" in caught.value.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("[640, 640]", (640, 640)), ("[384, 640]", (640, 384)), ("512", (512, 512)), ("", None),
     ("[a, b]", None), ("[0, 0]", None)],
)  # fmt: skip
def test_parse_imgsz(raw, expected):
    assert parse_imgsz(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("{0: 'person', 1: 'car'}", ("person", "car")),
        ("['a', 'b', 'c']", ("a", "b", "c")),
        ("{1: 'x'}", None),  # ids not 0..n-1
        ("__import__('os')", None),  # never evaluated
        ("", None),
    ],
)
def test_names_from_metadata(raw, expected):
    assert names_from_metadata({"names": raw}) == expected


def test_class_name_precedence(tmp_path):
    model_path = tmp_path / "m.onnx"
    meta = {"names": "{0: 'from_meta'}"}
    assert resolve_class_names(model_path, {}, 80) == COCO80
    assert resolve_class_names(model_path, {}, 2) == ("class_0", "class_1")
    (tmp_path / "labels.txt").write_text("cat\ndog\n\n")
    assert resolve_class_names(model_path, {}, 2) == ("cat", "dog")
    (tmp_path / "m.names").write_text("stem_a\nstem_b\n")
    assert resolve_class_names(model_path, {}, 2) == ("stem_a", "stem_b")
    assert resolve_class_names(model_path, meta, 1) == ("from_meta",)
    explicit = tmp_path / "explicit.txt"
    explicit.write_text("chosen\n")
    assert resolve_class_names(model_path, meta, 1, explicit) == ("chosen",)


@pytest.mark.parametrize(
    ("name", "layout", "input_wh", "num_classes"),
    [
        ("yolox_nano", "yolox", (416, 416), 80),
        ("yolov8n_int8", "ultralytics", (640, 640), 80),
        ("yolo26n_int8", "end2end", (640, 640), 80),
    ],
)
def test_real_models_are_recognised(load_shared_model, name, layout, input_wh, num_classes):
    info = load_shared_model(name).info
    assert (info.layout.name, info.input_wh, len(info.class_names)) == (
        layout,
        input_wh,
        num_classes,
    )
    assert info.class_names[2] == "car"


def test_missing_model_file_says_what_to_do(tmp_path):
    with pytest.raises(ModelError, match=r"small-object-detect fetch-model.*MODEL_PATH"):
        load_model(tmp_path / "absent.onnx")


def test_not_an_onnx_file(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"definitely not protobuf")
    with pytest.raises(ModelError, match="Cannot load"):
        load_model(path)


def test_unknown_forced_format(tmp_path):
    with pytest.raises(ModelError, match="yolox, yolov5"):
        load_model(shared_path("models", "yolox_nano.onnx"), layout="yolov9000")


def yolov5_output() -> np.ndarray:
    """A YOLOv5 head for a 64x64 input, 3 classes: one strong box and a weaker duplicate."""
    rows = np.zeros((1, 3 * (8 * 8 + 4 * 4 + 2 * 2), 8), np.float32)
    rows[0, 0] = [32, 32, 20, 10, 0.9, 0.1, 0.8, 0.05]  # class 1 at 0.72
    rows[0, 1] = [33, 32, 20, 10, 0.8, 0.1, 0.7, 0.05]  # IoU ~0.9 with row 0: suppressed
    rows[0, 2] = [10, 50, 8, 8, 0.5, 0.6, 0.0, 0.0]  # class 0 at 0.30
    return rows


@pytest.fixture
def yolov5_path(tmp_path):
    path = constant_output_model(tmp_path / "tiny_v5.onnx", yolov5_output())
    (tmp_path / "tiny_v5.names").write_text("cone\nsign\nbarrier\n")
    return path


def test_hand_built_yolov5_through_the_api(yolov5_path):
    info = load_model(yolov5_path).info
    assert (info.layout.name, info.class_names) == ("yolov5", ("cone", "sign", "barrier"))
    # One whole-image pass ("auto" would slice: 128 px is twice the 64 px input).
    client = create_app({"model_path": yolov5_path, "slicing_mode": "off"}).test_client()
    image = np.zeros((64, 128, 3), np.uint8)  # 2:1 -> scale 0.5, 16 px bars top and bottom
    response = client.post("/detect", json={"image": b64(encode_image(image, "PNG"))})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    got = [(d["label"], d["confidence"], d["box"]) for d in body["detections"]]
    assert got == [
        ("sign", pytest.approx(0.72, abs=1e-4), {"x1": 44.0, "y1": 22.0, "x2": 84.0, "y2": 42.0}),
        ("cone", pytest.approx(0.30, abs=1e-4), {"x1": 12.0, "y1": 60.0, "x2": 28.0, "y2": 64.0}),
    ]
    assert body["model"] == {
        "name": "tiny_v5",
        "format": "yolov5",
        "input": {"width": 64, "height": 64},
    }


def test_model_format_forces_the_decoder(tmp_path):
    """The same tensor read as YOLOv5 vs forced to YOLOX gives different boxes."""
    path = constant_output_model(tmp_path / "ambiguous.onnx", yolov5_output())
    forced = load_model(path, layout="yolox")
    assert forced.info.layout.name == "yolox"
    assert load_model(path).info.layout.name == "yolov5"


def test_unknown_layout_fails_at_start_up(tmp_path):
    path = constant_output_model(tmp_path / "odd.onnx", np.zeros((1, 7, 7), np.float32))
    with pytest.raises(ModelError, match=r"\[1, 7, 7\]"):
        create_app({"model_path": path})


def test_dynamic_batch_is_reported(tmp_path):
    path = constant_output_model(
        tmp_path / "dyn.onnx", yolov5_output(), input_shape=["batch", 3, 64, 64]
    )
    assert load_model(path).info.dynamic_batch
    assert not load_model(
        constant_output_model(tmp_path / "s.onnx", yolov5_output())
    ).info.dynamic_batch


def test_metadata_imgsz_used_when_the_graph_is_dynamic(tmp_path):
    path = constant_output_model(
        tmp_path / "dyn_hw.onnx",
        np.zeros((1, 84, 8400), np.float32),
        input_shape=[1, 3, "height", "width"],
        metadata={"imgsz": "[640, 640]", "names": str({i: f"c{i}" for i in range(80)})},
    )
    info = load_model(path).info
    assert (info.input_wh, info.layout.name, info.class_names[79]) == (
        (640, 640),
        "ultralytics",
        "c79",
    )
