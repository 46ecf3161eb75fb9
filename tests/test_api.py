"""The HTTP contract of POST /detect, GET /health and GET /model, through the Flask client."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from app import create_app
from tests.conftest import b64, encode_image


def test_detect_finds_cars_in_image_pixels(client, demo_jpeg):
    response = client.post("/detect", json={"image": b64(demo_jpeg)})
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["detections", "count", "image", "model", "timings_ms", "slicing"]
    assert body["image"] == {"width": 1068, "height": 580}
    # 1068 px is over twice the 416 px tile, so the default "auto" slices it: 3 x 2 tiles.
    assert body["slicing"] == {
        "tiles": 6,
        "tile": {"width": 416, "height": 416},
        "overlap": 0.2,
        "whole_image": True,
    }
    assert body["model"] == {
        "name": "yolox_nano",
        "format": "yolox",
        "input": {"width": 416, "height": 416},
    }
    assert body["count"] == len(body["detections"]) >= 3
    assert {d["label"] for d in body["detections"]} >= {"car"}
    confidences = [d["confidence"] for d in body["detections"]]
    assert confidences == sorted(confidences, reverse=True)
    assert min(confidences) >= 0.25
    for d in body["detections"]:
        box = d["box"]
        assert 0 <= box["x1"] < box["x2"] <= 1068 and 0 <= box["y1"] < box["y2"] <= 580
        assert d["label"] == app_labels(client)[d["class_id"]]
    timings = body["timings_ms"]
    assert set(timings) == {"decode", "preprocess", "inference", "postprocess", "total"}
    assert timings["total"] >= timings["inference"] > 0


def _boxes_reported_twice(detections: list[dict]) -> int:
    boxes = [tuple(d["box"].values()) for d in detections]
    return len(boxes) - len(set(boxes))


def test_one_label_per_object_unless_multi_label_is_asked_for(client, demo_jpeg):
    # At 0.05 some boxes pass for two classes (car and truck), so the two modes differ. The
    # demo is sliced: a class-aware merge keeps both labels of a box through it.
    low = {"image": b64(demo_jpeg), "confidence": 0.05}
    default = client.post("/detect", json=low).get_json()
    single = client.post("/detect", json={**low, "multi_label": False}).get_json()
    every_label = {"multi_label": True, "slicing": {"class_agnostic": False}}
    multi = client.post("/detect", json={**low, **every_label}).get_json()
    assert default["detections"] == single["detections"]
    assert _boxes_reported_twice(default["detections"]) == 0
    assert _boxes_reported_twice(multi["detections"]) > 0
    assert multi["count"] > default["count"]


def app_labels(client) -> list[str]:
    return client.get("/model").get_json()["labels"]


def _variants(data: bytes) -> dict[str, str]:
    standard = base64.b64encode(data).decode()
    urlsafe = base64.urlsafe_b64encode(data).decode()
    return {
        "standard": standard,
        "no_padding": standard.rstrip("="),
        "urlsafe_no_padding": urlsafe.rstrip("="),
        "line_wrapped": "\n".join(standard[i : i + 76] for i in range(0, len(standard), 76)),
        "data_uri": "data:image/jpeg;base64," + standard,
        "data_uri_parameters": "DATA:Image/PNG;name=a.png;base64," + standard,  # type != bytes
        "data_uri_no_media_type": "data:;base64," + standard,
        "spaces_and_tabs": " \t" + standard[:100] + " " + standard[100:] + "\r\n",
    }


def test_every_base64_spelling_gives_the_same_answer(client, demo_jpeg):
    answers = {}
    # 1 extra byte makes the padding non-trivial ("=" or "==") for the no-padding cases
    for name, text in _variants(demo_jpeg + b"\xd9").items():
        response = client.post("/detect", json={"image": text})
        assert response.status_code == 200, (name, response.get_json())
        answers[name] = response.get_json()["detections"]
    first = answers.pop("standard")
    assert first and all(other == first for other in answers.values())


def test_options_change_the_answer(client, demo_jpeg):
    def detect(**options):
        body = client.post("/detect", json={"image": b64(demo_jpeg), **options}).get_json()
        return body["detections"]

    default = detect()
    low = detect(confidence=0.05)
    assert len(low) > len(default)
    assert all(d["confidence"] >= 0.05 for d in low)
    assert len(detect(confidence=0.05, max_detections=2)) == 2
    only_cars = detect(confidence=0.05, classes=["car"])
    assert only_cars and {d["label"] for d in only_cars} == {"car"}
    assert detect(confidence=0.05, classes=[2]) == only_cars
    assert detect(confidence=0.05, classes=["CAR", 2]) == only_cars
    assert detect(confidence=0.001)  # the evaluation setting works


def test_confidence_one_and_zero_detections(client, demo_jpeg):
    body = client.post("/detect", json={"image": b64(demo_jpeg), "confidence": 1.0}).get_json()
    assert body["detections"] == [] and body["count"] == 0


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ([], "invalid_request"),
        ("just a string", "invalid_request"),
        ({}, "missing_field"),
        ({"image": ""}, "invalid_field"),
        ({"image": 12}, "invalid_field"),
        ({"image": "!!!not base64!!!"}, "invalid_base64"),
        ({"image": "abcde"}, "invalid_base64"),
        ({"image": "data:image/png,rawdata"}, "invalid_base64"),
        ({"image": "QUJD", "confidence": 1.5}, "invalid_field"),
        ({"image": "QUJD", "confidence": -0.1}, "invalid_field"),
        ({"image": "QUJD", "confidence": "0.5"}, "invalid_field"),
        ({"image": "QUJD", "confidence": True}, "invalid_field"),
        ({"image": "QUJD", "iou": None}, "invalid_field"),
        ({"image": "QUJD", "max_detections": 0}, "invalid_field"),
        ({"image": "QUJD", "max_detections": 10001}, "invalid_field"),
        ({"image": "QUJD", "max_detections": 2.5}, "invalid_field"),
        ({"image": "QUJD", "classes": "car"}, "invalid_field"),
        ({"image": "QUJD", "classes": []}, "invalid_field"),
        ({"image": "QUJD", "classes": ["unicorn"]}, "unknown_class"),
        ({"image": "QUJD", "classes": [80]}, "unknown_class"),
        ({"image": "QUJD", "classes": [-1]}, "unknown_class"),
        ({"image": "QUJD", "classes": [[2]]}, "unknown_class"),
        ({"image": "QUJD", "confidance": 0.5}, "unknown_field"),
        ({"image": "QUJD", "multi_label": "yes"}, "invalid_field"),
        ({"image": "QUJD", "flip": "yes"}, "invalid_field"),
        ({"image": "QUJD", "flip": 1}, "invalid_field"),
    ],
)
def test_bad_fields_get_400_with_a_code(client, payload, code):
    response = client.post("/detect", json=payload)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code
    assert response.get_json()["error"]["message"].endswith(".")


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{", "application/json", 400, "invalid_json"),
        (b"", "application/json", 400, "invalid_json"),
        (b'{"image": NaN}', "application/json", 400, "invalid_json"),
        (b'{"image": "QUJD", "confidence": Infinity}', "application/json", 400, "invalid_json"),
        (b'{"image": "\xff\xfe"}', "application/json", 400, "invalid_json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "invalid_json"),
        (b'{"image": "QUJD"}', "text/plain", 415, "unsupported_media_type"),
        (b'{"image": "QUJD"}', None, 415, "unsupported_media_type"),
        (b'{"image": "aGVsbG8gd29ybGQ="}', "application/json", 422, "unsupported_image_format"),
    ],
)
def test_bad_bodies(client, body, content_type, status, code):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/detect", data=body, headers=headers)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_truncated_image_is_422(client):
    image = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    data = encode_image(image, "PNG")
    response = client.post("/detect", json={"image": b64(data[: len(data) // 2])})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "corrupt_image"


def test_limits_give_413_with_the_limit(yolox_model):
    client = create_app(
        {"max_body_bytes": 1000, "max_image_pixels": 100}, model=yolox_model
    ).test_client()
    response = client.post("/detect", json={"image": "A" * 2000})
    assert response.status_code == 413
    assert "1,000 bytes" in response.get_json()["error"]["message"]
    small = b64(encode_image(np.zeros((20, 20, 3), np.uint8), "PNG"))
    response = client.post("/detect", json={"image": small})
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "image_too_large"
    assert "100" in response.get_json()["error"]["message"]


def test_decoded_image_limit(yolox_model):
    client = create_app({"max_image_bytes": 100}, model=yolox_model).test_client()
    response = client.post("/detect", json={"image": b64(b"x" * 300)})
    assert (response.status_code, response.get_json()["error"]["code"]) == (413, "image_too_large")


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/nope", 404, "not_found"),
        ("get", "/detect", 405, "method_not_allowed"),
        ("post", "/health", 405, "method_not_allowed"),
        ("delete", "/model", 405, "method_not_allowed"),
    ],
)
def test_unknown_routes_and_methods_are_json(client, method, path, status, code):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response.is_json and response.get_json()["error"]["code"] == code


def test_health_and_model(client):
    assert client.get("/health").get_json() == {"status": "ok", "model": "yolox_nano"}
    body = client.get("/model").get_json()
    assert body["format"] == "yolox" and body["num_classes"] == len(body["labels"]) == 80
    assert body["input"] == {"width": 416, "height": 416}


def test_unexpected_errors_do_not_leak(yolox_model, demo_jpeg, monkeypatch):
    import app.service

    def explode(*args, **kwargs):
        raise RuntimeError("secret /var/task/internal/path detail")

    monkeypatch.setattr(app.service, "detect_bytes", explode)
    client = create_app(model=yolox_model).test_client()
    response = client.post("/detect", json={"image": b64(demo_jpeg)})
    assert response.status_code == 500
    assert "secret" not in response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "internal_error"


def test_model_unavailable_is_503(tmp_path):
    client = create_app({"model_path": tmp_path / "absent.onnx"}, fail_fast=False).test_client()
    response = client.post("/detect", json={"image": "QUJD"})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "model_unavailable"
    assert str(tmp_path) not in response.get_data(as_text=True)
    assert client.get("/health").status_code == 503


def test_response_is_plain_json(client, demo_jpeg):
    response = client.post("/detect", json={"image": b64(demo_jpeg)})
    assert response.mimetype == "application/json"
    json.loads(response.get_data())  # no NaN or numpy types slip through
