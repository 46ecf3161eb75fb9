"""POST /v1/vision/detection: the DeepStack / CodeProject.AI contract, over real HTTP multipart."""

from __future__ import annotations

import io
import logging
import math
from urllib.parse import urlsplit

import numpy as np
import pytest
import requests
from deepstack.core import DeepstackException, DeepstackObject

from app import create_app
from app.detector import Detections
from app.http.deepstack import deepstack_predictions
from examples.deepstack_client import detect as deepstack_client_detect
from tests.conftest import DEMO_DIR, b64, shared_path
from tests.live_server import serve_in_thread

PREDICTION_KEYS = ["label", "confidence", "x_min", "y_min", "x_max", "y_max"]


@pytest.fixture(scope="module")
def live_url(yolox_model, vehicles_dir):
    with serve_in_thread(create_app({"models_dir": vehicles_dir}, model=yolox_model)) as url:
        yield url


def test_the_readme_client_gets_integer_boxes_around_the_detect_boxes(live_url, client, demo_jpeg):
    shared_path("data", "demo", "small-vehicles1.jpeg")
    predictions = deepstack_client_detect(live_url, str(DEMO_DIR / "small-vehicles1.jpeg"))

    # The same image through POST /detect with DeepStack's settings: one label per box, 0.4.
    payload = {"image": b64(demo_jpeg), "confidence": 0.4, "multi_label": False}
    detections = client.post("/detect", json=payload).get_json()["detections"]
    assert len(predictions) == len(detections) >= 3
    for prediction, found in zip(predictions, detections, strict=True):
        assert list(prediction) == PREDICTION_KEYS
        assert prediction["label"] == found["label"]
        assert prediction["confidence"] == found["confidence"] >= 0.4
        box = found["box"]
        assert (prediction["x_min"], prediction["y_min"]) == (
            math.floor(box["x1"]), math.floor(box["y1"]))  # fmt: skip
        assert (prediction["x_max"], prediction["y_max"]) == (
            math.ceil(box["x2"]), math.ceil(box["y2"]))  # fmt: skip
        assert all(isinstance(prediction[k], int) for k in PREDICTION_KEYS[2:])


def deepstack_python(url: str, **options) -> DeepstackObject:
    """Home Assistant's DeepStack library (deepstack-python, pinned, unmodified) at url."""
    address = urlsplit(url)
    return DeepstackObject(ip=address.hostname, port=address.port, timeout=60, **options)


def test_deepstack_python_gets_what_the_route_answers(live_url, demo_jpeg):
    predictions = deepstack_python(live_url).detect(demo_jpeg)
    # The library's default min_confidence is 0.45; it sends api_key="" too (keys are off).
    direct = _post(live_url, files={"image": demo_jpeg}, data={"min_confidence": "0.45"}).json()
    assert predictions == direct["predictions"] and len(predictions) >= 3
    assert {p["label"] for p in predictions} >= {"car"}
    # Custom models are configured by name; the loaded model answers whatever the name.
    custom = deepstack_python(live_url, custom_model="vehicles").detect(demo_jpeg)
    assert custom == predictions


def test_one_label_per_box_even_where_detect_would_give_two(live_url, client, demo_jpeg):
    # At 0.05 POST /detect with multi_label (and a class-aware merge of the tiles) reports
    # some boxes twice (car and truck).
    low = {"image": b64(demo_jpeg), "confidence": 0.05}
    every_label = {"multi_label": True, "slicing": {"class_agnostic": False}}
    multi = client.post("/detect", json={**low, **every_label}).json["detections"]
    single = client.post("/detect", json=low).json["detections"]
    predictions = deepstack_python(live_url, min_confidence=0.05).detect(demo_jpeg)
    assert len(predictions) == len(single) < len(multi)
    assert [p["confidence"] for p in predictions] == [d["confidence"] for d in single]


DEEPSTACK_KEY = "blue-iris-0123456789abcdef"


@pytest.fixture(scope="module")
def keyed_url(yolox_model, vehicles_dir):
    config = {"api_keys": DEEPSTACK_KEY, "models_dir": vehicles_dir}
    with serve_in_thread(create_app(config, model=yolox_model)) as url:
        yield url


@pytest.mark.parametrize("custom_model", ["", "vehicles"])
def test_deepstack_python_sends_its_key_in_the_form(keyed_url, demo_jpeg, custom_model, caplog):
    caplog.set_level(logging.DEBUG)
    keyed = deepstack_python(keyed_url, api_key=DEEPSTACK_KEY, custom_model=custom_model)
    assert len(keyed.detect(demo_jpeg)) >= 3
    for wrong in ("", "wrong-0123456789abcdef", DEEPSTACK_KEY[:-1]):
        client = deepstack_python(keyed_url, api_key=wrong, custom_model=custom_model)
        with pytest.raises(DeepstackException, match="status code: 401"):
            client.detect(demo_jpeg)
    assert DEEPSTACK_KEY[:-1] not in caplog.text


@pytest.mark.parametrize(
    ("data", "headers", "status"),
    [
        pytest.param({}, {}, 401, id="no_key"),
        pytest.param({"api_key": "wrong-0123456789abcdef"}, {}, 401, id="wrong_form_key"),
        pytest.param({"api_key": f" {DEEPSTACK_KEY} "}, {}, 200, id="form_key_padded"),
        pytest.param({}, {"X-Api-Key": DEEPSTACK_KEY}, 200, id="header_key"),
        pytest.param({"api_key": "nope"}, {"X-Api-Key": DEEPSTACK_KEY}, 200, id="either"),
    ],
)
def test_key_failures_are_deepstack_shaped(keyed_url, demo_jpeg, data, headers, status):
    response = _post(keyed_url, files={"image": demo_jpeg}, data=data, headers=headers)
    body = response.json()
    assert response.status_code == status
    if status == 401:
        assert body == {"success": False, "error": body["error"], "code": 401}
        assert ('"api_key"' if not data else "not valid") in body["error"]
        assert DEEPSTACK_KEY not in response.text
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    else:
        assert body["success"] is True


def test_the_form_key_is_only_for_the_deepstack_routes(keyed_url, demo_jpeg):
    response = requests.post(
        f"{keyed_url}/detect",
        files={"image": demo_jpeg},
        data={"api_key": DEEPSTACK_KEY},
        timeout=30,
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def _post(url: str, files=None, data=None, **kwargs) -> requests.Response:
    return requests.post(f"{url}/v1/vision/detection", files=files, data=data, timeout=30, **kwargs)


def test_answer_shape_and_min_confidence(live_url, demo_jpeg):
    default = _post(live_url, files={"image": ("car.jpg", demo_jpeg, "image/jpeg")})
    body = default.json()
    assert default.status_code == 200
    assert list(body) == ["success", "predictions", "count", "inferenceMs", "processMs", "code"]
    assert body["success"] is True and body["code"] == 200
    assert body["count"] == len(body["predictions"])
    assert isinstance(body["inferenceMs"], int) and body["processMs"] >= body["inferenceMs"]
    assert min(p["confidence"] for p in body["predictions"]) >= 0.4  # DeepStack's default

    explicit = _post(live_url, files={"image": demo_jpeg}, data={"min_confidence": "0.4"}).json()
    assert explicit["predictions"] == body["predictions"]
    low = _post(live_url, files={"image": demo_jpeg}, data={"min_confidence": "0.1"}).json()
    assert low["count"] > body["count"]
    assert min(p["confidence"] for p in low["predictions"]) >= 0.1
    # Fields DeepStack clients may add (and DeepStack ignores) do no harm.
    extra = _post(live_url, files={"image": demo_jpeg}, data={"typedfilter": "car"}).json()
    assert extra["predictions"] == body["predictions"]


NOT_AN_IMAGE = b"GIF89a but not really"


@pytest.mark.parametrize(
    ("files", "data", "status"),
    [
        pytest.param({"picture": b"x"}, None, 400, id="no_image_field"),
        pytest.param({"image": b"x"}, {"min_confidence": "abc"}, 400, id="min_confidence_text"),
        pytest.param({"image": b"x"}, {"min_confidence": "1.5"}, 400, id="min_confidence_high"),
        pytest.param({"image": b"x"}, {"min_confidence": "nan"}, 400, id="min_confidence_nan"),
        pytest.param({"image": NOT_AN_IMAGE}, None, 422, id="not_an_image"),
        pytest.param({"image": b""}, None, 422, id="empty_image"),
    ],
)
def test_errors_are_deepstack_shaped(live_url, files, data, status):
    response = _post(live_url, files=files, data=data)
    body = response.json()
    assert response.status_code == status
    assert list(body) == ["success", "error", "code"]
    assert body["success"] is False and body["code"] == status
    assert body["error"].endswith(".")


def test_json_is_refused_deepstack_style(live_url):
    response = requests.post(f"{live_url}/v1/vision/detection", json={"image": "x"}, timeout=30)
    assert response.status_code == 415
    assert response.json() == {"success": False, "error": response.json()["error"], "code": 415}


def test_body_over_the_limit_is_413(yolox_model):
    app = create_app({"max_body_bytes": 10_000}, model=yolox_model)
    response = app.test_client().post(
        "/v1/vision/detection",
        data={"image": (io.BytesIO(b"\xff" * 20_000), "big.jpg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert response.get_json()["code"] == 413 and "10,000" in response.get_json()["error"]


def test_without_a_model_it_is_503(tmp_path):
    app = create_app({"model_path": tmp_path / "missing.onnx"}, fail_fast=False)
    response = app.test_client().post(
        "/v1/vision/detection",
        data={"image": (io.BytesIO(b"x"), "x.jpg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 503
    assert response.get_json()["success"] is False and response.get_json()["code"] == 503


@pytest.mark.parametrize(
    ("xyxy", "expected"),
    [
        ([10.2, 20.7, 50.0, 60.01], [10, 20, 50, 61]),
        ([0.0, 0.0, 0.5, 0.5], [0, 0, 1, 1]),
        ([99.999, 5.5, 100.0, 6.5], [99, 5, 100, 7]),
    ],
)
def test_boxes_round_outwards(xyxy, expected):
    found = Detections.from_arrays(np.array([xyxy]), [0.5], [2])
    (prediction,) = deepstack_predictions(found, ("person", "bicycle", "car"))
    assert [prediction[k] for k in PREDICTION_KEYS[2:]] == expected
    assert prediction["label"] == "car"


def test_an_internal_failure_is_500_without_internals(yolox_model, monkeypatch, demo_jpeg):
    # A crash inside detection cannot be provoked with real input; a stand-in raises one.
    def crash(*args, **kwargs):
        raise RuntimeError("secret detail at /opt/model/internal.py")

    monkeypatch.setattr("app.service.detect_bytes", crash)
    app = create_app(model=yolox_model)
    response = app.test_client().post(
        "/v1/vision/detection",
        data={"image": (io.BytesIO(demo_jpeg), "a.jpg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 500
    body = response.get_json()
    assert body["success"] is False and body["code"] == 500
    assert "secret" not in response.get_data(as_text=True)


@pytest.fixture(scope="module")
def vehicles_client(yolox_model, vehicles_dir):
    return create_app({"models_dir": vehicles_dir}, model=yolox_model).test_client()


@pytest.mark.parametrize(
    ("method", "path", "status", "words"),
    [
        ("POST", "/v1/vision/custom/vehicles%2fx", 404, "No custom model named 'vehicles/x'"),
        ("POST", "/v1/vision/custom/..%2f..%2fdetect", 404, "No custom model named '../../det"),
        ("POST", "/v1/vision/custom/vehicles/", 404, "No custom model named 'vehicles/'"),
        ("POST", "/v1/vision/custom/", 404, "There is no such route"),
        ("POST", "/v1/vision/objects", 404, "There is no such route"),
        ("GET", "/v1/vision/custom/vehicles", 405, "does not accept that HTTP method"),
        ("GET", "/v1/vision/detection", 405, "does not accept that HTTP method"),
        ("PUT", "/v1/vision/custom/vehicles", 405, "does not accept that HTTP method"),
    ],
)
def test_routing_errors_under_v1_vision_are_deepstack_shaped(
    vehicles_client, method, path, status, words
):
    response = vehicles_client.open(path, method=method, data={"image": (io.BytesIO(b"x"), "x")})
    body = response.get_json()
    assert response.status_code == status
    assert list(body) == ["success", "error", "code"]
    assert body["success"] is False and body["code"] == status and words in body["error"]
    if status == 405:
        assert set(response.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}


def test_other_routes_keep_the_api_error_shape(vehicles_client):
    response = vehicles_client.get("/detect")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_a_401_before_routing_is_deepstack_shaped_too(yolox_model, vehicles_dir):
    config = {"api_keys": DEEPSTACK_KEY, "models_dir": vehicles_dir}
    client = create_app(config, model=yolox_model).test_client()
    response = client.post("/v1/vision/custom/a%2fb%2fc/")
    assert response.status_code == 401
    assert response.get_json() == {"success": False, "error": response.get_json()["error"],
                                   "code": 401}  # fmt: skip
