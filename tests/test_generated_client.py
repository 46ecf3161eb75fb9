"""A Python client generated from GET /openapi.json by openapi-python-client (pinned in
requirements-dev.txt) calls every API route of a real server and gets typed answers back.

The generator reads the live server's document (--url), as a user would; its code is imported
from a temporary folder, unmodified. The server has API keys on, so the document carries its
security schemes and 401s too.
"""

from __future__ import annotations

import base64
import importlib
import io
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from app import create_app
from tests.conftest import shared_path
from tests.live_server import serve_in_thread

KEY = "generated-0123456789abcdef"
PACKAGE = "detect_api_client"
# No post hooks: the generated code is used as generated (they would only reformat it).
GENERATOR_CONFIG = f"package_name_override: {PACKAGE}\npost_hooks: []\n"


@pytest.fixture(scope="module")
def server_url(yolox_model, vehicles_dir):
    config = {"api_keys": KEY, "models_dir": vehicles_dir}
    with serve_in_thread(create_app(config, model=yolox_model)) as url:
        yield url


@pytest.fixture(scope="module")
def generated(server_url, tmp_path_factory):
    """The generated package, imported; its generator output (warnings included)."""
    folder = tmp_path_factory.mktemp("generated")
    config = folder / "config.yaml"
    config.write_text(GENERATOR_CONFIG)
    generator = Path(sys.executable).parent / "openapi-python-client"
    result = subprocess.run(
        [str(generator), "generate", "--url", f"{server_url}/openapi.json", "--meta", "none",
         "--config", str(config), "--output-path", str(folder / PACKAGE)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(folder))
    try:
        package = importlib.import_module(PACKAGE)
        yield package, result.stdout + result.stderr
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _module(name: str):
    return importlib.import_module(f"{PACKAGE}.{name}")


@pytest.fixture(scope="module")
def clients(generated, server_url):
    """(with the key, without one): the generated Client classes, pointed at the server."""
    package, _ = generated
    keyed = package.AuthenticatedClient(base_url=server_url, token=KEY, timeout=60)
    anonymous = package.Client(base_url=server_url, timeout=60)
    return keyed, anonymous


@pytest.fixture(scope="module")
def photo() -> bytes:
    return shared_path("data", "demo", "small-vehicles1.jpeg").read_bytes()


def _file(data: bytes):
    return _module("types").File(payload=io.BytesIO(data), file_name="photo.jpg",
                                 mime_type="image/jpeg")  # fmt: skip


def _direct(server_url: str, photo: bytes, **options) -> dict:
    body = {"image": base64.b64encode(photo).decode(), **options}
    response = requests.post(f"{server_url}/detect", json=body, headers={"X-Api-Key": KEY},
                             timeout=60)  # fmt: skip
    assert response.status_code == 200
    return response.json()


def test_only_the_wildcard_media_type_is_left_out(generated):
    _, output = generated
    # image/* stays documented for other tools; octet-stream is the raw upload generators use.
    warnings = [line for line in output.splitlines() if line.startswith("Unsupported")]
    assert warnings == ["Unsupported content type image/*"]


def test_detect_with_json_and_uploads(clients, server_url, photo):
    keyed, _ = clients
    detect, models = _module("api.default.detect"), _module("models")
    expected = _direct(server_url, photo, confidence=0.3)["detections"]

    as_json = detect.sync_detailed(
        client=keyed, body=models.DetectRequest(image=base64.b64encode(photo).decode(),
                                                confidence=0.3),
    )  # fmt: skip
    raw = detect.sync_detailed(client=keyed, body=_file(photo), confidence=0.3)
    form = detect.sync_detailed(
        client=keyed, body=models.DetectFilesBody(image=_file(photo)), confidence=0.3
    )
    for answer in (as_json, raw, form):
        assert answer.status_code == 200, answer.content
        assert isinstance(answer.parsed, models.DetectResponse)
        assert [d.to_dict() for d in answer.parsed.detections] == expected
    assert answer.parsed.count >= 3 and answer.parsed.detections[0].label == "car"


def test_detect_picks_a_model_by_name(clients, server_url, photo):
    keyed, _ = clients
    detect, models = _module("api.default.detect"), _module("models")
    listed = _module("api.default.models").sync(client=keyed)
    assert [m.name for m in listed.models] == ["yolox_nano", "vehicles"]
    # The names are an enum in the JSON body and in the query string alike.
    json_enum, query_enum = models.DetectRequestModel, models.DetectModel
    as_json = detect.sync_detailed(
        client=keyed, body=models.DetectRequest(image=base64.b64encode(photo).decode(),
                                                model=json_enum("vehicles")),
    )  # fmt: skip
    raw = detect.sync_detailed(client=keyed, body=_file(photo), model=query_enum("vehicles"))
    for answer in (as_json, raw):
        assert answer.status_code == 200, answer.content
        assert answer.parsed.model.name == "vehicles"
    default = detect.sync_detailed(client=keyed, body=_file(photo))
    assert default.parsed.model.name == "yolox_nano"


def test_model_health_and_the_deepstack_routes(clients, server_url, photo):
    keyed, anonymous = clients
    models = _module("models")
    model = _module("api.default.model").sync(client=keyed)
    assert isinstance(model, models.ModelDescription)
    assert model.name == "yolox_nano" and len(model.labels) == model.num_classes == 80
    health = _module("api.default.health").sync(client=anonymous)  # open without a key
    assert isinstance(health, models.Health) and health.status.value == "ok"

    deepstack = _module("api.default.deepstack_detection").sync(
        client=keyed, body=models.DeepstackDetectionBody(image=_file(photo), min_confidence="0.5")
    )
    custom = _module("api.default.deepstack_custom_detection").sync(
        "vehicles",
        client=anonymous,  # the key in the form, as DeepStack clients send it
        body=models.DeepstackCustomDetectionBody(image=_file(photo), min_confidence="0.5",
                                                 api_key=KEY),
    )  # fmt: skip
    assert isinstance(deepstack, models.DeepStackResponse) and deepstack.success
    assert deepstack.to_dict()["predictions"] == custom.to_dict()["predictions"]
    confidences = [p.confidence for p in deepstack.predictions]
    assert confidences and min(confidences) >= 0.5


def test_errors_come_back_typed(clients, photo):
    keyed, anonymous = clients
    detect, models = _module("api.default.detect"), _module("models")

    not_an_image = detect.sync_detailed(client=keyed, body=_file(b"GIF89a but not really"))
    assert not_an_image.status_code == 422
    assert isinstance(not_an_image.parsed, models.Error)
    assert not_an_image.parsed.error.code == "corrupt_image"

    bad_option = detect.sync_detailed(client=keyed, body=_file(photo), confidence=2.0)
    assert bad_option.status_code == 400 and bad_option.parsed.error.code == "invalid_field"

    no_key = _module("api.default.model").sync_detailed(client=anonymous)
    assert no_key.status_code == 401 and no_key.parsed.error.code == "unauthorized"

    refused = _module("api.default.deepstack_detection").sync_detailed(
        client=anonymous, body=models.DeepstackDetectionBody(image=_file(photo))
    )
    assert refused.status_code == 401
    assert isinstance(refused.parsed, models.DeepStackError)
    assert refused.parsed.success is False and refused.parsed.code == 401
