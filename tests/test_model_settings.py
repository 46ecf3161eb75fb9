"""Settings a model carries in its ONNX metadata (recommended_settings): served with them, under
the operator's environment and the request's own options; bad ones refused naming the key; and
the protobuf edit that writes them, checked against the onnx package."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json

import numpy as np
import onnx
import pytest

from app import create_app
from app.__main__ import main
from app.config import Settings, settings_for_model
from app.detector import ConfigError, Model, ModelError, ModelInfo, load_model
from app.detector.model import RECOMMENDED_SETTINGS_KEY, read_recommended_settings
from app.tuning.model_metadata import NotAnOnnxModel, with_metadata, write_with_metadata
from tests.conftest import b64, shared_path

RECOMMENDED = {
    "SLICING_TILE": "320",
    "SLICING_OVERLAP": "0.1",
    "SLICING_WHOLE_IMAGE": "false",
    "DEFAULT_CONFIDENCE": "0.4",
}


pytestmark = pytest.mark.usefixtures("no_operator_settings")


@pytest.fixture(scope="module")
def tuned_model(tmp_path_factory):
    """YOLOX-Nano copied with RECOMMENDED in its metadata."""
    source = shared_path("models", "yolox_nano.onnx")
    target = tmp_path_factory.mktemp("tuned") / "tuned_nano.onnx"
    write_with_metadata(source, target, {RECOMMENDED_SETTINGS_KEY: json.dumps(RECOMMENDED)})
    return load_model(target)


def detect(client, demo_jpeg, **options) -> dict:
    response = client.post("/detect", json={"image": b64(demo_jpeg), **options})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_model_is_served_with_its_recommended_settings(tuned_model, yolox_model, demo_jpeg):
    assert dict(tuned_model.info.recommended_settings) == RECOMMENDED
    client = create_app(model=tuned_model).test_client()
    body = detect(client, demo_jpeg)
    assert body["slicing"] == {
        "tiles": body["slicing"]["tiles"],
        "tile": {"width": 320, "height": 320},
        "overlap": 0.1,
        "whole_image": False,
    }
    assert min(d["confidence"] for d in body["detections"]) >= 0.4
    # The same as a plain copy of the model asked for those options in the request.
    plain = create_app(model=yolox_model).test_client()
    slicing = {"tile": 320, "overlap": 0.1, "whole_image": False}
    asked = detect(plain, demo_jpeg, confidence=0.4, slicing=slicing)
    assert body["detections"] == asked["detections"]
    described = client.get("/model").get_json()
    assert described["recommended_settings"] == RECOMMENDED
    assert plain.get("/model").get_json()["recommended_settings"] == {}


def test_the_operators_environment_wins_over_the_model(tuned_model, demo_jpeg, monkeypatch):
    monkeypatch.setenv("SLICING_OVERLAP", "0.3")
    monkeypatch.setenv("DEFAULT_CONFIDENCE", "0.6")
    client = create_app(model=tuned_model).test_client()
    body = detect(client, demo_jpeg)
    assert body["slicing"]["overlap"] == 0.3  # the environment's
    assert body["slicing"]["tile"] == {"width": 320, "height": 320}  # the model's
    assert min(d["confidence"] for d in body["detections"]) >= 0.6


def test_test_config_counts_as_the_operators(tuned_model):
    app = create_app({"slicing_whole_image": True}, model=tuned_model)
    settings = app.extensions["settings"]
    assert settings.slicing_whole_image is True and settings.slicing_overlap == 0.1


def test_the_request_wins_over_both(tuned_model, demo_jpeg, monkeypatch):
    monkeypatch.setenv("SLICING_OVERLAP", "0.3")
    client = create_app(model=tuned_model).test_client()
    body = detect(client, demo_jpeg, confidence=0.7, slicing={"tile": 416, "overlap": 0.25})
    assert body["slicing"]["tile"] == {"width": 416, "height": 416}
    assert body["slicing"]["overlap"] == 0.25
    assert body["detections"] and min(d["confidence"] for d in body["detections"]) >= 0.7


def test_the_command_line_applies_them_too(tuned_model, demo_jpeg, tmp_path):
    image = tmp_path / "demo.jpeg"
    image.write_bytes(demo_jpeg)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["detect", str(image), "--model", str(tuned_model.path)])
    assert status == 0, err.getvalue()
    assert json.loads(out.getvalue())["slicing"]["tile"] == {"width": 320, "height": 320}


def with_recommended(model: Model, recommended: dict[str, str]) -> ModelInfo:
    return dataclasses.replace(model.info, recommended_settings=recommended)


@pytest.mark.parametrize(
    ("recommended", "named"),
    [
        ({"SLICING_OVERLAP": "2"}, "SLICING_OVERLAP=2.0 is out of range"),
        ({"DEFAULT_CONFIDENCE": "high"}, "DEFAULT_CONFIDENCE='high' is not a valid float"),
        ({"SLICING_TILE": "big"}, "SLICING_TILE='big' is not a tile size"),
        ({"SLICING_WHOLE_IMAGE": "maybe"}, "SLICING_WHOLE_IMAGE='maybe' is not a boolean"),
        ({"SLICING_MERGE": "vote"}, "SLICING_MERGE='vote' is out of range"),
        ({"MAX_TILES": "5000"}, "recommends MAX_TILES, which a model cannot set"),
        ({"API_KEYS": "x" * 20}, "recommends API_KEYS, which a model cannot set"),
    ],
)
def test_a_bad_recommendation_is_refused_naming_the_model_and_the_key(
    yolox_model, recommended, named
):
    info = with_recommended(yolox_model, recommended)
    with pytest.raises(ConfigError) as caught:
        settings_for_model(Settings(), info)
    assert named in caught.value.message
    assert "yolox_nano" in caught.value.message


def test_an_explicit_setting_is_not_checked_against_the_model(yolox_model):
    # The operator's value replaces the model's, so the model's is never used.
    info = with_recommended(yolox_model, {"SLICING_OVERLAP": "2"})
    settings = settings_for_model(Settings.from_env({"SLICING_OVERLAP": "0.2"}), info)
    assert settings.slicing_overlap == 0.2


def test_a_model_with_bad_settings_is_not_served(yolox_model, demo_jpeg):
    info = with_recommended(yolox_model, {"DEFAULT_IOU": "-1"})
    model = Model(yolox_model.session, info, path=yolox_model.path)
    with pytest.raises(ConfigError, match="DEFAULT_IOU"):
        create_app(model=model)
    client = create_app(model=model, fail_fast=False).test_client()  # Lambda: 503, logged
    response = client.post("/detect", json={"image": b64(demo_jpeg)})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "model_unavailable"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, {}),
        ('{"SLICING_OVERLAP": "0.1"}', {"SLICING_OVERLAP": "0.1"}),
        ('{"SLICING_OVERLAP": 0.1, "SLICING_WHOLE_IMAGE": false}',
         {"SLICING_OVERLAP": "0.1", "SLICING_WHOLE_IMAGE": "false"}),
        ("not json", ModelError),
        ('["SLICING_OVERLAP"]', ModelError),
        ('{"SLICING_OVERLAP": null}', ModelError),
        ('{"SLICING_OVERLAP": {"value": 1}}', ModelError),
    ],
)  # fmt: skip
def test_metadata_is_a_json_object_of_names_and_values(raw, expected):
    metadata = {} if raw is None else {RECOMMENDED_SETTINGS_KEY: raw}
    if expected is ModelError:
        with pytest.raises(ModelError, match="m1 has invalid recommended_settings"):
            read_recommended_settings(metadata, "m1")
    else:
        assert read_recommended_settings(metadata, "m1") == expected


# --- the protobuf edit -----------------------------------------------------------------------


def test_metadata_edit_is_what_onnx_reads_and_keeps_everything_else(tmp_path):
    source = shared_path("models", "yolox_nano.onnx")
    original = onnx.load(str(source))
    original.metadata_props.append(onnx.StringStringEntryProto(key="names", value="{0: 'a'}"))
    original.metadata_props.append(onnx.StringStringEntryProto(key=RECOMMENDED_SETTINGS_KEY))
    data = original.SerializeToString()

    edited = onnx.load_from_string(with_metadata(data, {RECOMMENDED_SETTINGS_KEY: "{}"}))
    again = onnx.load_from_string(with_metadata(edited.SerializeToString(), {"k": "v"}))

    pairs = [(p.key, p.value) for p in again.metadata_props]
    assert pairs == [("names", "{0: 'a'}"), (RECOMMENDED_SETTINGS_KEY, "{}"), ("k", "v")]
    assert again.graph.SerializeToString() == original.graph.SerializeToString()
    assert (again.ir_version, again.opset_import) == (original.ir_version, original.opset_import)


def test_the_edited_copy_runs_as_the_original(tmp_path, yolox_model):
    target = tmp_path / "copy.onnx"
    write_with_metadata(yolox_model.path, target, {RECOMMENDED_SETTINGS_KEY: "{}"})
    copy = load_model(target)
    batch = np.random.default_rng(0).uniform(0, 255, (1, 3, 416, 416)).astype(np.float32)
    np.testing.assert_array_equal(copy.run(batch), yolox_model.run(batch))
    assert copy.info.recommended_settings == {}


@pytest.mark.parametrize("data", [b"", b"\x08\x07", b"not an onnx file at all", b"\x3a\xff"])
def test_bytes_that_are_not_a_model_are_refused(data):
    with pytest.raises(NotAnOnnxModel):
        with_metadata(data, {"k": "v"})
