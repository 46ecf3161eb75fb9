"""Several models in one deployment, picked by name: MODELS_DIR holds two real models (YOLOX-Nano,
the default, and YOLOv8n int8) and a synthetic one with other labels (VisDrone's), each asked for
by name through POST /detect, the DeepStack custom route, jobs, S3 uploads and IoT messages."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest
import requests
from moto import mock_aws

from app import aws, create_app
from app.config import Settings
from app.detector import ConfigError, load_model
from app.events import handle_iot_event
from app.registry import ModelRegistry
from tests.aws_events import make_client, published_messages, small_jpeg, use_fake_credentials
from tests.conftest import b64, place_model, shared_path
from tests.live_server import serve_in_thread
from tests.test_custom_model import VISDRONE, visdrone_output
from tests.test_deepstack import deepstack_python
from tests.test_jobs import BUCKET, make_world, upload

from .onnx_graphs import constant_output_model

NAMES = ("yolox_nano", "visdrone", "yolov8n_int8")  # the default first, then by name


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    for name in ("yolox_nano", "yolov8n_int8"):
        place_model(folder / f"{name}.onnx", shared_path("models", f"{name}.onnx"))
    metadata = {"names": str(dict(enumerate(VISDRONE))), "imgsz": "[64, 64]"}
    constant_output_model(
        folder / "visdrone.onnx", visdrone_output(), input_shape=[1, 3, 64, 64], metadata=metadata
    )
    return folder


def config(models_dir) -> dict:
    return {"models_dir": models_dir, "model_path": models_dir / "yolox_nano.onnx"}


@pytest.fixture(scope="module")
def app(models_dir):
    return create_app(config(models_dir))


@pytest.fixture
def client(app):
    return app.test_client()


def detect(client, image: bytes, **fields):
    return client.post("/detect", json={"image": b64(image), **fields})


def test_models_lists_every_file_the_default_loaded_first(models_dir, demo_jpeg):
    client = create_app(config(models_dir)).test_client()
    listed = client.get("/models").get_json()["models"]
    assert [m["name"] for m in listed] == list(NAMES)
    default, visdrone, yolov8 = listed
    fields = ["name", "format", "input", "labels", "recommended_settings", "default", "loaded"]
    assert list(default) == fields
    assert (default["default"], default["loaded"], default["format"]) == (True, True, "yolox")
    assert default["input"] == {"width": 416, "height": 416} and len(default["labels"]) == 80
    # Listing loads nothing, yet describes each model from its file as loading it would.
    assert [(m["default"], m["loaded"]) for m in (visdrone, yolov8)] == [(False, False)] * 2
    assert (visdrone["input"], visdrone["labels"]) == ({"width": 64, "height": 64}, list(VISDRONE))
    assert visdrone["format"] is None  # its graph's output is ["batch", "rows", "cols"]
    assert (yolov8["format"], len(yolov8["labels"])) == ("ultralytics", 80)
    for name in NAMES:
        assert detect(client, demo_jpeg, model=name).status_code == 200
    loaded = client.get("/models").get_json()["models"]
    # The test inference gives the output's real shape, and so the format.
    visdrone = {**visdrone, "format": "ultralytics"}
    assert loaded == [{**entry, "loaded": True} for entry in (default, visdrone, yolov8)]


def test_each_model_answers_by_name_on_detect(client, demo_jpeg):
    answers = {}
    for name in NAMES:
        response = detect(client, demo_jpeg, model=name, confidence=0.3)
        assert response.status_code == 200, response.get_json()
        answers[name] = response.get_json()
        assert answers[name]["model"]["name"] == name
    assert detect(client, demo_jpeg).get_json()["model"]["name"] == "yolox_nano"
    assert {d["label"] for d in answers["visdrone"]["detections"]} == {"van", "bus"}
    assert answers["yolov8n_int8"]["model"]["format"] == "ultralytics"
    assert any(d["label"] == "car" for d in answers["yolov8n_int8"]["detections"])
    listed = {m["name"]: m for m in client.get("/models").get_json()["models"]}
    assert listed["visdrone"]["loaded"] and listed["visdrone"]["labels"] == list(VISDRONE)
    assert listed["visdrone"]["input"] == {"width": 64, "height": 64}


def test_query_parameter_names_the_model_of_an_upload(client, demo_jpeg):
    raw = client.post("/detect?model=visdrone", data=demo_jpeg, content_type="image/jpeg")
    assert raw.status_code == 200 and raw.get_json()["model"]["name"] == "visdrone"
    form = client.post(
        "/detect?model=yolov8n_int8", data={"image": (io.BytesIO(demo_jpeg), "a.jpg")}
    )
    assert form.status_code == 200 and form.get_json()["model"]["name"] == "yolov8n_int8"


def test_a_models_own_labels_are_checked_against_that_model(client, demo_jpeg):
    ok = detect(client, demo_jpeg, model="visdrone", classes=["van"])
    assert {d["label"] for d in ok.get_json()["detections"]} == {"van"}
    refused = detect(client, demo_jpeg, model="visdrone", classes=["person"])
    assert refused.get_json()["error"]["code"] == "unknown_class"


@pytest.mark.parametrize("name", ["nope", "YOLOX_NANO", "yolox_nano.onnx", ""])
def test_unknown_model_is_a_400_listing_the_names(client, demo_jpeg, name):
    response = detect(client, demo_jpeg, model=name)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "unknown_model"
    assert all(known in error["message"] for known in NAMES)
    upload_answer = client.post(f"/detect?model={name}", data=demo_jpeg, content_type="image/png")
    assert upload_answer.get_json()["error"]["code"] == "unknown_model"


def test_model_must_be_text(client, demo_jpeg):
    response = detect(client, demo_jpeg, model=3)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_field"


def test_openapi_gives_model_the_enum_of_names(client):
    document = client.get("/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    assert schemas["DetectRequest"]["properties"]["model"]["enum"] == list(NAMES)
    job_options = schemas["JobRequest"]["properties"]["options"]["properties"]
    assert job_options["model"]["enum"] == list(NAMES)
    query = document["paths"]["/detect"]["post"]["parameters"]
    assert next(p for p in query if p["name"] == "model")["schema"]["enum"] == list(NAMES)
    custom = document["paths"]["/v1/vision/custom/{name}"]["post"]
    assert custom["parameters"][0]["schema"]["enum"] == list(NAMES)
    assert "404" in custom["responses"] and "/models" in document["paths"]


@pytest.fixture(scope="module")
def live_url(app):
    with serve_in_thread(app) as url:
        yield url


def test_deepstack_custom_route_runs_that_model(live_url, demo_jpeg):
    for name in NAMES:
        answer = requests.post(
            f"{live_url}/v1/vision/custom/{name}", files={"image": demo_jpeg}, timeout=60
        )
        assert answer.status_code == 200, answer.text
        labels = {p["label"] for p in answer.json()["predictions"]}
        if name == "visdrone":
            assert labels == {"van", "bus"}
        else:
            assert "car" in labels and not labels & set(VISDRONE) - {"car", "truck", "bus"}
    detection = requests.post(f"{live_url}/v1/vision/detection", files={"image": demo_jpeg})
    default = requests.post(f"{live_url}/v1/vision/custom/yolox_nano", files={"image": demo_jpeg})
    assert detection.json()["predictions"] == default.json()["predictions"]


def test_deepstack_unknown_custom_model_is_404_as_deepstack_answers(live_url, demo_jpeg):
    answer = requests.post(f"{live_url}/v1/vision/custom/nope", files={"image": demo_jpeg})
    assert answer.status_code == 404
    body = answer.json()
    assert (body["success"], body["code"]) == (False, 404)
    assert "nope" in body["error"] and "visdrone" in body["error"]


def test_deepstack_python_custom_model(live_url, demo_jpeg):
    from deepstack.core import DeepstackException

    predictions = deepstack_python(live_url, custom_model="visdrone").detect(demo_jpeg)
    assert {p["label"] for p in predictions} == {"van", "bus"}
    with pytest.raises(DeepstackException, match="Bad url"):
        deepstack_python(live_url, custom_model="nope").detect(demo_jpeg)


@pytest.mark.parametrize("name", [None, "yolox_nano", "yolov8n_int8"])
def test_each_call_resolves_its_model_once(monkeypatch, app, demo_jpeg, name):
    """service.served() is the one place a name becomes a model and its settings."""
    service = app.extensions["service"]
    looked_up = []
    real = service.served
    monkeypatch.setattr(
        type(service), "served", lambda self, n=None: looked_up.append(n) or real(n)
    )
    params = service.options({"model": name} if name else {})
    body = service.detect(demo_jpeg, params)
    assert body["model"]["name"] == (name or "yolox_nano")
    assert looked_up == [name, name]  # once to validate the options, once to detect


def test_lazy_loading_happens_once_under_concurrent_first_requests(models_dir):
    loads, barrier = [], threading.Barrier(8)

    def counting_loader(path, **options):
        loads.append(path.name)
        return load_model(path, **options)

    settings = Settings.from_env({}, config(models_dir))
    registry = ModelRegistry.from_settings(settings, loader=counting_loader)
    got, errors = [], []

    def first_request():
        barrier.wait()
        try:
            got.append(registry.get("yolov8n_int8").model)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and loads == ["yolov8n_int8.onnx"]
    assert len(got) == 8 and all(model is got[0] for model in got)
    assert registry.is_loaded("yolov8n_int8") and not registry.is_loaded("visdrone")


def test_a_broken_model_answers_503_naming_its_file_and_the_others_serve(
    tmp_path, models_dir, demo_jpeg
):
    for name in NAMES:
        place_model(tmp_path / f"{name}.onnx", models_dir / f"{name}.onnx")
    (tmp_path / "broken.onnx").write_bytes(b"not an onnx file")
    client = create_app(config(tmp_path)).test_client()
    for _ in range(2):  # failed once, it stays failed: no reload on every request
        response = detect(client, demo_jpeg, model="broken")
        assert response.status_code == 503
        error = response.get_json()["error"]
        assert error["code"] == "model_unavailable" and "broken.onnx" in error["message"]
    assert str(tmp_path) not in error["message"]
    for name in NAMES:
        assert detect(client, demo_jpeg, model=name).status_code == 200
    listed = {m["name"]: m for m in client.get("/models").get_json()["models"]}
    assert listed["broken"]["loaded"] is False
    custom = client.post(
        "/v1/vision/custom/broken", data={"image": (io.BytesIO(demo_jpeg), "a.jpg")}
    )
    assert custom.status_code == 503 and custom.get_json()["success"] is False


@pytest.mark.parametrize("bad", ["Cars.onnx", "-cars.onnx", "two words.onnx"])
def test_a_file_without_a_valid_name_stops_start_up_naming_it(tmp_path, models_dir, bad):
    (tmp_path / bad).write_bytes(b"")
    with pytest.raises(ConfigError, match=bad):
        create_app(config(models_dir) | {"models_dir": tmp_path})


def test_optimized_copies_beside_the_models_are_not_models(tmp_path, models_dir):
    place_model(tmp_path / "yolox_nano.onnx", models_dir / "yolox_nano.onnx")
    (tmp_path / "yolox_nano.ort-1.32.0.optimized.onnx").write_bytes(b"")
    settings = Settings.from_env({}, {"models_dir": tmp_path})
    assert ModelRegistry.from_settings(settings).names == ("yolox_nano",)


def test_model_path_outside_models_dir_is_the_default_beside_them(models_dir, tmp_path):
    settings = Settings.from_env({}, {"models_dir": models_dir, "model_path": tmp_path / "x.onnx"})
    assert ModelRegistry.from_settings(settings).names == ("x", *sorted(NAMES))


@pytest.fixture
def world(monkeypatch, models_dir):
    use_fake_credentials(monkeypatch)
    with mock_aws():
        aws.client.cache_clear()
        made = make_world(None, **config(models_dir))
        yield made
    aws.client.cache_clear()


def test_jobs_and_s3_uploads_pick_the_model(world, demo_jpeg):
    service = world.app.extensions["service"]
    refused = world.client.post("/jobs", json={"options": {"model": "nope"}})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "unknown_model"
    job = world.client.post("/jobs", json={"options": {"model": "visdrone"}}).get_json()
    assert upload(job, demo_jpeg).status_code in (200, 204)
    keys = {
        "uploads/yolov8n_int8/cam/a.jpg": "yolov8n_int8",
        "uploads/visdrone/b.jpg": "visdrone",
        "uploads/cam-7/c.jpg": "yolox_nano",  # today's keys: the default model
        "uploads/d.jpg": "yolox_nano",
        "uploads/nope/e.jpg": "yolox_nano",  # not a served name: an ordinary folder
    }
    for key in keys:
        world.s3.put_object(Bucket=BUCKET, Key=key, Body=demo_jpeg)
    world.work(model=service)
    done = world.client.get(job["links"]["self"]).get_json()
    assert done["status"] == "done" and done["result"]["model"]["name"] == "visdrone"
    for key, name in keys.items():
        assert world.json(f"detections/{key}.json")["model"]["name"] == name, key


def test_iot_messages_pick_the_model(monkeypatch, app, demo_jpeg):
    use_fake_credentials(monkeypatch)
    frame = small_jpeg(demo_jpeg)
    service = app.extensions["service"]
    with mock_aws():
        aws.client.cache_clear()
        iot, s3 = make_client("iot-data"), make_client("s3")
        for name in (*NAMES, "nope"):
            message = {"device_id": f"cam-{name}", "image": b64(frame), "model": name}
            handle_iot_event(message, service, iot=iot, s3=s3)
        bodies = {topic: body for topic, body in published_messages()}
    aws.client.cache_clear()
    for name in NAMES:
        assert bodies[f"detections/cam-{name}"]["model"]["name"] == name
    assert bodies["detections/cam-nope"]["error"]["code"] == "unknown_model"


def run_cli(*argv: str) -> tuple[int, str, str]:
    import contextlib

    from app.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def test_models_command_lists_models_dir_without_loading(monkeypatch, models_dir):
    monkeypatch.setenv("MODELS_DIR", str(models_dir))
    status, out, _ = run_cli("models", "--json")
    assert status == 0
    listed = json.loads(out)["models"]
    assert [m["name"] for m in listed] == list(NAMES)
    assert [m["default"] for m in listed] == [True, False, False]
    status, table, _ = run_cli("models")
    assert status == 0 and all(name in table for name in NAMES) and "(default)" in table


def test_detect_command_takes_a_model_name_or_a_path(monkeypatch, models_dir, tmp_path, demo_jpeg):
    monkeypatch.setenv("MODELS_DIR", str(models_dir))
    image = tmp_path / "a.jpeg"
    image.write_bytes(demo_jpeg)
    for model in ("visdrone", str(models_dir / "visdrone.onnx")):
        status, out, err = run_cli("detect", str(image), "--model", model)
        assert status == 0, err
        assert json.loads(out)["model"]["name"] == "visdrone"
    status, _, err = run_cli("detect", str(image), "--model", "nope")
    assert status == 2 and "nope" in err and all(name in err for name in NAMES)


@pytest.mark.parametrize(
    ("given", "sent"), [("visdrone", "visdrone"), ("/somewhere/visdrone.onnx", "visdrone")]
)
def test_submit_sends_the_model_name_in_the_jobs_options(given, sent):
    import argparse

    from app.cli.submit import job_options

    args = argparse.Namespace(confidence=None, slicing=None, classes=None, model=given)
    assert job_options(args) == {"model": sent}


def test_tune_and_serve_resolve_a_name_from_models_dir(models_dir):
    from app.registry import model_file

    settings = Settings.from_env({}, {"models_dir": models_dir})
    assert model_file("visdrone", settings) == models_dir / "visdrone.onnx"
    assert model_file("elsewhere/x.onnx", settings) == Path("elsewhere/x.onnx")
    with pytest.raises(ConfigError, match="yolov8n_int8"):
        model_file("nope", settings)


def test_models_dir_without_yolox_serves_its_first_model_as_the_default(tmp_path, models_dir):
    for name in ("visdrone", "yolov8n_int8"):
        place_model(tmp_path / f"{name}.onnx", models_dir / f"{name}.onnx")
    client = create_app({"models_dir": tmp_path}).test_client()
    listed = client.get("/models").get_json()["models"]
    assert [(m["name"], m["default"]) for m in listed] == [
        ("visdrone", True), ("yolov8n_int8", False)]  # fmt: skip
