"""The Lambda entry point: recorded AWS HTTP events replayed through `handler.handler`.

serverless-wsgi turns each event into a WSGI request for the Flask app and the response back
into the shape that event source expects; these tests check that the adapter changes nothing
about the API's answers, for every HTTP event source the function is wired to.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import importlib.util
import io
import json
import logging
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .aws_events import lambda_body
from .conftest import FIXTURES, REPO_ROOT, b64, encode_image, shared_path

EVENTS = FIXTURES / "events"
BODY_PLACEHOLDER = "__BODY__"


@dataclasses.dataclass(frozen=True)
class EventKind:
    fixture: str
    header_style: str  # the key serverless-wsgi answers with: "headers" or "multiValueHeaders"
    alb: bool = False  # ALB targets also need a statusDescription such as "200 OK"
    multi_value_alb: bool = False  # derived: the ALB target group has multi-value headers on


# Every HTTP event source the function can sit behind, and the header style each must get
# back: API Gateway REST sends multiValueHeaders (so it gets them back); HTTP APIs, Function
# URLs and ALB without multi-value headers send and get single-value headers; ALB with
# multi-value headers enabled (AWS then sends only multiValueHeaders) must get them back.
EVENT_KINDS = [
    EventKind("apigw_rest_v1", "multiValueHeaders"),
    EventKind("apigw_rest_v1_base64", "multiValueHeaders"),
    EventKind("apigw_http_v2", "headers"),
    EventKind("function_url", "headers"),
    EventKind("alb", "headers", alb=True),
    EventKind("alb", "multiValueHeaders", alb=True, multi_value_alb=True),
]


def _kind_id(kind: EventKind) -> str:
    return "alb_multi_value" if kind.multi_value_alb else kind.fixture


KIND_PARAMS = [pytest.param(kind, id=_kind_id(kind)) for kind in EVENT_KINDS]
BASE64_KINDS = ("apigw_rest_v1_base64", "apigw_http_v2", "function_url")
BASE64_KIND_PARAMS = [p for p in KIND_PARAMS if p.values[0].fixture in BASE64_KINDS]
_HEADER_KEYS = ("headers", "multiValueHeaders")


def lambda_context() -> types.SimpleNamespace:
    """Stands in for the Lambda runtime's context object, which cannot run here.

    Only the attributes a handler may read are provided; serverless-wsgi passes the object
    through to the WSGI environ as `serverless.context` untouched.
    """
    return types.SimpleNamespace(
        aws_request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        function_name="small-object-detect",
        memory_limit_in_mb=2048,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:small-object-detect",
        get_remaining_time_in_millis=lambda: 29_000,
    )


def load_event(kind: EventKind | str) -> dict:
    name = kind if isinstance(kind, str) else kind.fixture
    event = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    if isinstance(kind, EventKind) and kind.multi_value_alb:
        # What an ALB target group with "multi-value headers" enabled sends instead.
        event["multiValueHeaders"] = {k: [v] for k, v in event.pop("headers").items()}
        event["multiValueQueryStringParameters"] = {
            k: [v] for k, v in event.pop("queryStringParameters").items()
        }
    return event


def with_body(event: dict, body: bytes) -> dict:
    """Fill the `__BODY__` placeholder the way that event source encodes bodies."""
    assert event["body"] == BODY_PLACEHOLDER, "the fixture lost its __BODY__ placeholder"
    event["body"] = b64(body) if event["isBase64Encoded"] else body.decode("utf-8")
    return event


def retarget(event: dict, method: str, path: str) -> dict:
    """The same recorded event, for another method and path, with no body."""
    event = copy.deepcopy(event)
    if event.get("version") == "2.0":  # HTTP API and Function URL
        event["rawPath"] = path
        event["requestContext"]["http"].update(method=method, path=path)
        if event["routeKey"] != "$default":
            event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {path}"
        event.pop("body", None)  # 2.0 omits the key when there is no body
    else:  # REST API (1.0) and ALB
        event["httpMethod"] = method
        event["path"] = path
        if "elb" not in event["requestContext"]:
            context = event["requestContext"]
            context["httpMethod"] = method
            context["path"] = f"/{context['stage']}{path}"
            event["pathParameters"] = {"proxy": path.lstrip("/")}
        event["body"] = None if "elb" not in event["requestContext"] else ""
    event["isBase64Encoded"] = False
    return event


def response_headers(response: dict) -> dict[str, list[str]]:
    """Lower-case header name -> values, from whichever header style the response used."""
    present = [key for key in _HEADER_KEYS if key in response]
    assert len(present) == 1, f"want exactly one of {_HEADER_KEYS}, got {sorted(response)}"
    headers = response[present[0]]
    if present[0] == "headers":
        assert all(isinstance(v, str) for v in headers.values()), headers
        return {k.lower(): [v] for k, v in headers.items()}
    assert all(isinstance(v, list) for v in headers.values()), headers
    return {k.lower(): list(v) for k, v in headers.items()}


def response_json(response: dict) -> dict:
    """The response body parsed as JSON, after checking it says it is JSON."""
    assert response_headers(response)["content-type"] == ["application/json"]
    return lambda_body(response)


def comparable(body: dict) -> dict:
    """A /detect body without the timings, which differ run to run."""
    return {key: value for key, value in body.items() if key != "timings_ms"}


def _clean_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every service setting, so the handler runs on defaults apart from MODEL_PATH."""
    from app.config import Settings

    for field in dataclasses.fields(Settings):
        monkeypatch.delenv(field.name.upper(), raising=False)


def load_handler_copy(name: str) -> types.ModuleType:
    """A fresh, separate instance of handler.py (not put in sys.modules)."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "handler.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def handler_module() -> types.ModuleType:
    """`handler`, imported with MODEL_PATH set: the app (and model) is built at import."""
    model_path = shared_path("models", "yolox_nano.onnx")
    with pytest.MonkeyPatch.context() as mp:
        _clean_settings_env(mp)
        mp.setenv("MODEL_PATH", str(model_path))
        if "handler" in sys.modules:
            module = importlib.reload(sys.modules["handler"])
        else:
            module = importlib.import_module("handler")
    assert module.app.extensions["settings"].model_path == model_path
    assert module.app.extensions["model"] is not None, "handler built its app without a model"
    return module


@pytest.fixture(scope="module")
def direct_client(handler_module):
    """The same model behind an in-process Flask app, without serverless-wsgi in between."""
    from app import create_app

    return create_app(model=handler_module.app.extensions["model"]).test_client()


def invoke(handler_module, event: dict) -> dict:
    response = handler_module.handler(event, lambda_context())
    assert isinstance(response, dict)
    json.dumps(response)  # Lambda serialises the return value: it must be plain JSON data
    return response


# Request bodies: defaults only, and every option set (proving options arrive intact).
REQUESTS = {
    "defaults": {},
    "options": {"confidence": 0.3, "iou": 0.5, "max_detections": 50, "classes": ["car", 7]},
}


@pytest.mark.parametrize("options", list(REQUESTS.values()), ids=list(REQUESTS))
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_detect_through_each_event_source(handler_module, direct_client, demo_jpeg, kind, options):
    payload = {"image": b64(demo_jpeg), **options}
    event = with_body(load_event(kind), json.dumps(payload).encode("utf-8"))

    response = invoke(handler_module, event)

    assert response["statusCode"] == 200, response.get("body")
    body = response_json(response)
    detections = body["detections"]
    assert body["count"] == len(detections) >= 1
    assert "car" in {d["label"] for d in detections}, "no car found in the highway picture"
    width, height = Image.open(io.BytesIO(demo_jpeg)).size
    assert body["image"] == {"width": width, "height": height}
    for found in detections:
        box = found["box"]
        assert 0 <= box["x1"] <= box["x2"] <= width, found
        assert 0 <= box["y1"] <= box["y2"] <= height, found
    if options:
        assert {d["label"] for d in detections} <= {"car", "truck"}  # class 7 is truck
        assert min(d["confidence"] for d in detections) >= options["confidence"]
        assert len(detections) <= options["max_detections"]

    # The adapter changes nothing: same image, same model -> the same answer in-process.
    direct = direct_client.post("/detect", json=payload)
    assert direct.status_code == 200
    assert comparable(body) == comparable(direct.get_json())


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_response_uses_the_header_style_of_the_event(handler_module, demo_jpeg, kind):
    event = with_body(load_event(kind), json.dumps({"image": b64(demo_jpeg)}).encode("utf-8"))
    assert (kind.header_style == "multiValueHeaders") == bool(event.get("multiValueHeaders"))

    response = invoke(handler_module, event)

    other_style = next(key for key in _HEADER_KEYS if key != kind.header_style)
    assert kind.header_style in response
    assert other_style not in response
    headers = response_headers(response)
    assert headers["content-type"] == ["application/json"]
    assert headers["content-length"] == [str(len(response["body"].encode("utf-8")))]
    # JSON goes back as text, never base64, whatever the request's isBase64Encoded said.
    assert response["isBase64Encoded"] is False
    if kind.alb:
        assert response["statusDescription"] == "200 OK"
    else:
        assert "statusDescription" not in response


def test_get_health_v2(handler_module):
    event = load_event("apigw_http_v2_get_health")
    assert "body" not in event  # as recorded: 2.0 events without a body have no body key

    response = invoke(handler_module, event)

    assert response["statusCode"] == 200
    assert response_json(response) == {"status": "ok", "model": "yolox_nano"}


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_get_health_through_each_event_source(handler_module, kind):
    response = invoke(handler_module, retarget(load_event(kind), "GET", "/health"))

    assert response["statusCode"] == 200
    assert response_json(response)["status"] == "ok"


# Bad bodies, as the bytes the client sent: (id, body, status, error code).
BAD_BODIES = [
    ("not_json", b"this is not JSON {", 400, "invalid_json"),
    ("json_not_object", b'["image"]', 400, "invalid_request"),
    ("missing_image", b'{"confidence": 0.5}', 400, "missing_field"),
    (
        "image_not_an_image",
        json.dumps({"image": b64(b"plain text")}).encode(),
        422,
        "unsupported_image_format",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [pytest.param(body, status, code, id=name) for name, body, status, code in BAD_BODIES],
)
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_bad_body_through_each_event_source(handler_module, kind, body, status, code):
    response = invoke(handler_module, with_body(load_event(kind), body))

    assert response["statusCode"] == status, response.get("body")
    error = response_json(response)["error"]
    assert set(error) == {"code", "message"}
    assert error["code"] == code
    assert error["message"]


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe\x00not utf-8", b'{"image": "a", "confidence": NaN}'],
    ids=["not_utf8", "nan_literal"],
)
@pytest.mark.parametrize("kind", BASE64_KIND_PARAMS)
def test_binary_bad_body_through_base64_events(handler_module, kind, body):
    # Only events with isBase64Encoded can carry bytes that are not text at all.
    event = with_body(load_event(kind), body)
    assert event["isBase64Encoded"] is True

    response = invoke(handler_module, event)

    assert response["statusCode"] == 400
    assert response_json(response)["error"]["code"] == "invalid_json"


# Requests the router refuses: (method, path, status, error code).
ROUTING_ERRORS = [
    ("GET", "/nope", 404, "not_found"),
    ("POST", "/detect/extra", 404, "not_found"),
    ("GET", "/detect", 405, "method_not_allowed"),
    ("DELETE", "/health", 405, "method_not_allowed"),
]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [pytest.param(*row, id=f"{row[0]}{row[1]}") for row in ROUTING_ERRORS],
)
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_routing_errors_through_each_event_source(handler_module, kind, method, path, status, code):
    response = invoke(handler_module, retarget(load_event(kind), method, path))

    assert response["statusCode"] == status
    assert response_json(response)["error"]["code"] == code
    if status == 405:
        allowed = response_headers(response)["allow"]
        assert len(allowed) == 1
        assert method not in allowed[0]
        assert ("POST" if path == "/detect" else "GET") in allowed[0]


# ---------------------------------------------------------------------------------------------
# Without a model: Lambda init must not crash (that only shows as a bare 502); it answers 503.
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def missing_model_path(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "not-fetched" / "yolox_nano.onnx"
    _clean_settings_env(monkeypatch)
    monkeypatch.setenv("MODEL_PATH", str(path))
    return path


def assert_no_path_in(message: str, missing: Path) -> None:
    for leaked in (str(missing), str(missing.parent), missing.name, "/", "\\", ".onnx"):
        assert leaked not in message, f"{leaked!r} leaks into the client message {message!r}"


def tiny_jpeg_b64() -> str:
    return b64(encode_image(np.full((32, 32, 3), 127, np.uint8)))


@pytest.mark.parametrize(
    ("method", "path", "json_body"),
    [
        ("GET", "/health", None),
        ("POST", "/detect", "image"),
        ("GET", "/model", None),
    ],
)
def test_create_app_without_model_answers_503(missing_model_path, caplog, method, path, json_body):
    from app import create_app

    with caplog.at_level(logging.ERROR, logger="app"):
        app = create_app(fail_fast=False)
    assert app.extensions["model"] is None
    assert "model unavailable" in caplog.text  # the reason (with the path) goes to the log

    body = {"image": tiny_jpeg_b64()} if json_body else None
    response = app.test_client().open(path, method=method, json=body)

    assert response.status_code == 503
    answer = response.get_json()
    if path == "/health":
        assert answer == {"status": "unavailable", "model": None}
    else:
        assert answer["error"]["code"] == "model_unavailable"
        assert_no_path_in(answer["error"]["message"], missing_model_path)


def test_handler_imports_without_model_and_answers_503(missing_model_path):
    module = load_handler_copy("handler_without_model")  # must not raise at "init"
    assert module.app.extensions["model"] is None

    health = module.handler(load_event("apigw_http_v2_get_health"), lambda_context())
    assert health["statusCode"] == 503
    assert response_json(health) == {"status": "unavailable", "model": None}

    payload = json.dumps({"image": tiny_jpeg_b64()}).encode("utf-8")
    for kind in EVENT_KINDS:
        detect = module.handler(with_body(load_event(kind), payload), lambda_context())
        assert detect["statusCode"] == 503, _kind_id(kind)
        error = response_json(detect)["error"]
        assert error["code"] == "model_unavailable"
        assert_no_path_in(error["message"], missing_model_path)
