"""Shared fixtures: paths into ../shared (skipping with a reason when absent, but stopping the
run when CI is set), models, apps."""

from __future__ import annotations

import base64
import io
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
# The models, data and reference numbers beside the checkout; TEST_SHARED_DIR points elsewhere.
SHARED = Path(os.environ.get("TEST_SHARED_DIR") or REPO_ROOT.parent / "shared")
MODELS_DIR = SHARED / "models"
COCO_DIR = SHARED / "data" / "coco-val2017-sample"
AERIAL_DIR = SHARED / "data" / "aerial-cars-sample"
DEMO_DIR = SHARED / "data" / "demo"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

MODEL_FILES = {
    "yolox_nano": "yolox_nano.onnx",
    "yolov8n_int8": "yolov8n_int8.onnx",
    "yolo26n_int8": "yolo26n_int8.onnx",
}


def shared_missing_in_ci(shared: Path, environ: Mapping[str, str]) -> str | None:
    """Why the run must stop: CI is set and shared's models or data are absent. Without them a
    third of the suite skips, and a green CI would mean those tests never ran."""
    if environ.get("CI", "").strip().lower() in {"", "0", "false", "no"}:
        return None
    missing = [str(path) for path in (shared / "models", shared / "data") if not path.is_dir()]
    if not missing:
        return None
    return (
        f"CI is set and {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} absent: "
        "the tests that read ../shared would all skip. Put shared/ beside the checkout "
        "(or point TEST_SHARED_DIR at it); unset CI to run without it."
    )


def pytest_sessionstart(session):
    reason = shared_missing_in_ci(SHARED, os.environ)
    if reason is not None:
        pytest.exit(reason, returncode=pytest.ExitCode.USAGE_ERROR)


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test saying what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: tests that need ../shared models and data skip without it")
    return path


def labelled_subset(sample: str, names, root: Path, *, classes: bool = False) -> Path:
    """Images of a ../shared sample (by file name) and their YOLO labels copied into
    root/images and root/labels; classes: its classes.txt into root too."""
    source = shared_path("data", sample)
    for folder in ("images", "labels"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(source / "images" / name, root / "images" / name)
        label = name.rsplit(".", 1)[0] + ".txt"
        shutil.copy(source / "labels" / label, root / "labels" / label)
    if classes:
        shutil.copy(source / "classes.txt", root / "classes.txt")
    return root


@pytest.fixture(scope="session")
def load_shared_model():
    """Load a ../shared model once per test session, by name."""
    from app.detector import load_model

    cache = {}

    def load(name: str):
        if name not in cache:
            cache[name] = load_model(shared_path("models", MODEL_FILES[name]))
        return cache[name]

    return load


@pytest.fixture(scope="session")
def yolox_model(load_shared_model):
    return load_shared_model("yolox_nano")


def place_model(path: Path, source: Path) -> Path:
    """source's file at path, as a file of path's folder: a hard link where the filesystem
    allows, else a copy (MODELS_DIR refuses symbolic links that leave it)."""
    try:
        os.link(source, path)
    except OSError:
        shutil.copyfile(source, path)
    return path


@pytest.fixture(scope="session")
def vehicles_dir(tmp_path_factory) -> Path:
    """A MODELS_DIR serving YOLOX-Nano under a second name too, "vehicles" (the shared file):
    what DeepStack clients configured with that custom model call."""
    models_dir = tmp_path_factory.mktemp("vehicles-models")
    place_model(models_dir / "vehicles.onnx", shared_path("models", "yolox_nano.onnx"))
    return models_dir


@pytest.fixture(scope="session")
def one_model_dir(tmp_path_factory) -> Path:
    """A MODELS_DIR holding YOLOX-Nano alone (the shared file): the repository's own model/
    also holds our aerial-vehicles model, so a server reading it serves two."""
    models_dir = tmp_path_factory.mktemp("one-model")
    place_model(models_dir / "yolox_nano.onnx", shared_path("models", "yolox_nano.onnx"))
    return models_dir


@pytest.fixture
def app(yolox_model):
    from app import create_app

    return create_app(model=yolox_model)


@pytest.fixture
def client(app):
    return app.test_client()


def encode_image(array: np.ndarray | Image.Image, fmt: str = "JPEG", **save_args) -> bytes:
    image = array if isinstance(array, Image.Image) else Image.fromarray(array)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture(scope="session")
def demo_jpeg() -> bytes:
    return shared_path("data", "demo", "small-vehicles1.jpeg").read_bytes()


@pytest.fixture(scope="session")
def dynamic_yolox(tmp_path_factory):
    """YOLOX-Nano with a dynamic batch dimension (a copy made here): sliced views batch."""
    from app.detector import load_model
    from tests.onnx_graphs import with_dynamic_batch

    source = shared_path("models", "yolox_nano.onnx")
    model = load_model(with_dynamic_batch(source, tmp_path_factory.mktemp("m") / "yolox.onnx"))
    assert model.info.dynamic_batch
    return model


@pytest.fixture
def moto_aws(monkeypatch):
    """Every AWS API in process (moto), dummy credentials, and app.aws's clients made afresh
    inside it (and dropped after): the one way tests reach AWS."""
    from moto import mock_aws

    from app import aws
    from tests.aws_events import use_fake_credentials

    use_fake_credentials(monkeypatch)
    with mock_aws():
        aws.client.cache_clear()
        yield
    aws.client.cache_clear()


@pytest.fixture
def world(moto_aws, yolox_model):
    """moto's S3 and SQS wired as serverless.yml wires them, and the app with jobs on
    (tests/test_jobs.py make_world)."""
    from tests.test_jobs import make_world

    return make_world(yolox_model)


@pytest.fixture
def no_operator_settings(monkeypatch):
    """The tests' environment sets none of the settings a model may recommend (a module that
    serves models with recommended settings uses it: pytestmark usefixtures)."""
    from app.config import MODEL_SETTINGS

    for name in MODEL_SETTINGS:
        monkeypatch.delenv(name, raising=False)
