"""The test-time flip at the edges: the request's "flip", DEFAULT_FLIP, a model that
recommends it, the OpenAPI contract and `detect --flip`, each answering what the library
answers with DetectOptions(flip=...)."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from app import create_app
from app.__main__ import main
from app.detector import ConfigError, DetectOptions, detect_bytes, load_model
from app.detector.model import RECOMMENDED_SETTINGS_KEY
from app.detector.slicing import SlicingOptions
from app.tuning.model_metadata import write_with_metadata
from tests.conftest import b64, shared_path

LOW = 0.1


pytestmark = pytest.mark.usefixtures("no_operator_settings")


@pytest.fixture(scope="module")
def flipping_model(tmp_path_factory):
    """YOLOX-Nano copied with DEFAULT_FLIP=true recommended in its metadata."""
    target = tmp_path_factory.mktemp("flip") / "flipping_nano.onnx"
    settings = {"DEFAULT_FLIP": "true", "DEFAULT_CONFIDENCE": str(LOW)}
    write_with_metadata(
        shared_path("models", "yolox_nano.onnx"), target,
        {RECOMMENDED_SETTINGS_KEY: json.dumps(settings)},
    )  # fmt: skip
    return load_model(target)


def library(model, data: bytes, flip: bool) -> list:
    options = DetectOptions(confidence=LOW, slicing=SlicingOptions(), flip=flip)
    found = detect_bytes(model, data, options).detections
    return [[round(float(v), 2) for v in box] for box in found.xyxy]


def boxes(body: dict) -> list:
    return [[round(d["box"][k], 2) for k in ("x1", "y1", "x2", "y2")] for d in body["detections"]]


def test_the_request_s_flip_is_the_library_s(client, yolox_model, demo_jpeg):
    flipped = client.post(
        "/detect", json={"image": b64(demo_jpeg), "confidence": LOW, "flip": True}
    )
    plain = client.post("/detect", json={"image": b64(demo_jpeg), "confidence": LOW})
    assert flipped.status_code == plain.status_code == 200
    assert boxes(flipped.get_json()) == library(yolox_model, demo_jpeg, True)
    assert boxes(plain.get_json()) == library(yolox_model, demo_jpeg, False)
    assert boxes(flipped.get_json()) != boxes(plain.get_json())


def test_default_flip_sets_the_default_and_the_request_still_wins(
    yolox_model, demo_jpeg, monkeypatch
):
    monkeypatch.setenv("DEFAULT_FLIP", "true")
    client = create_app(model=yolox_model).test_client()
    body = {"image": b64(demo_jpeg), "confidence": LOW}
    assert boxes(client.post("/detect", json=body).get_json()) == library(
        yolox_model, demo_jpeg, True
    )
    off = client.post("/detect", json=body | {"flip": False}).get_json()
    assert boxes(off) == library(yolox_model, demo_jpeg, False)
    schema = client.get("/openapi.json").get_json()["components"]["schemas"]["DetectRequest"]
    assert schema["properties"]["flip"]["type"] == "boolean"
    assert schema["properties"]["flip"]["default"] is True


def test_a_model_that_recommends_the_flip_is_served_flipped(flipping_model, yolox_model, demo_jpeg):
    client = create_app(model=flipping_model).test_client()
    body = client.post("/detect", json={"image": b64(demo_jpeg)}).get_json()
    assert boxes(body) == library(yolox_model, demo_jpeg, True)
    assert client.get("/model").get_json()["recommended_settings"]["DEFAULT_FLIP"] == "true"


def test_a_bad_recommended_flip_is_refused_naming_the_model_and_the_key(tmp_path):
    target = tmp_path / "bad.onnx"
    write_with_metadata(
        shared_path("models", "yolox_nano.onnx"), target,
        {RECOMMENDED_SETTINGS_KEY: json.dumps({"DEFAULT_FLIP": "sometimes"})},
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"model bad .*DEFAULT_FLIP='sometimes' is not a boolean"):
        create_app(model=load_model(target))


@pytest.mark.parametrize("flag", ["--flip", "--no-flip"])
def test_detect_on_the_command_line_flips_as_asked(flag, yolox_model, demo_jpeg, tmp_path):
    image = tmp_path / "demo.jpg"
    image.write_bytes(demo_jpeg)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["detect", str(image), "--confidence", str(LOW), flag,
                     "--model", str(shared_path("models", "yolox_nano.onnx"))])  # fmt: skip
    assert code == 0
    assert boxes(json.loads(out.getvalue())) == library(yolox_model, demo_jpeg, flag == "--flip")
