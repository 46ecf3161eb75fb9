"""The detection service itself (app/service.py), called as every entry point calls it: the
same payloads give the same error codes as POST /detect, options validate without an image,
and the body is POST /detect's (annotation included)."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from app.config import Settings
from app.detector import DetectionError, ModelError
from app.http.errors import http_error
from app.schemas.detect import DetectParams
from app.schemas.errors import error_of
from app.service import DetectionService
from tests.conftest import b64


@pytest.fixture(scope="module")
def service(yolox_model) -> DetectionService:
    return DetectionService(Settings.from_env({}), yolox_model)


@pytest.fixture(scope="module")
def jpeg_b64(demo_jpeg) -> str:
    return b64(demo_jpeg)


# (payload, the code it raises); "IMAGE" stands for the demo image, base64.
PAYLOAD_CODES = [
    pytest.param([], "invalid_request", id="not-an-object"),
    pytest.param({}, "missing_field", id="no-image"),
    pytest.param({"image": "IMAGE", "colour": "red"}, "unknown_field", id="unknown-field"),
    pytest.param({"image": "IMAGE", "confidence": 2}, "invalid_field", id="confidence-2"),
    pytest.param({"image": "IMAGE", "iou": "high"}, "invalid_field", id="iou-text"),
    pytest.param({"image": "IMAGE", "max_detections": 0}, "invalid_field", id="max-detections-0"),
    pytest.param({"image": "IMAGE", "classes": None}, "invalid_field", id="classes-null"),
    pytest.param({"image": "IMAGE", "classes": ["unicorn"]}, "unknown_class", id="unknown-class"),
    pytest.param({"image": "IMAGE", "annotate": "yes"}, "invalid_field", id="annotate-text"),
    pytest.param({"image": "IMAGE", "slicing": {"tile": 1}}, "invalid_field", id="tile-1"),
    pytest.param({"image": "IMAGE", "slicing": {"size": 1}}, "unknown_field", id="slicing-key"),
    pytest.param({"image": "@@@"}, "invalid_base64", id="bad-base64"),
    pytest.param({"image": b64(b"not an image at all")}, "unsupported_image_format", id="junk"),
    pytest.param({"image": ""}, "invalid_field", id="empty-image"),
    pytest.param(
        {"image": "IMAGE", "slicing": {"mode": "on", "tile": 32, "overlap": 0.5}},
        "too_many_tiles",
        id="too-many-tiles",
    ),
]


def _with_image(payload, jpeg_b64: str):
    if isinstance(payload, dict) and payload.get("image") == "IMAGE":
        return {**payload, "image": jpeg_b64}
    return payload


def _outcome(service: DetectionService, payload) -> str:
    try:
        parsed = service.request(payload)
        service.detect(parsed.image_bytes, parsed)
    except DetectionError as exc:
        return exc.code
    return "ok"


@pytest.mark.parametrize(("payload", "code"), PAYLOAD_CODES)
def test_a_bad_payload_raises_the_code_post_detect_answers(
    service, client, jpeg_b64, payload, code
):
    payload = _with_image(payload, jpeg_b64)
    assert _outcome(service, payload) == code
    # The service is what the route calls: same code, and the status the HTTP table gives it.
    response = client.post("/detect", json=payload)
    assert response.get_json()["error"]["code"] == code


def test_every_payload_code_is_one_the_http_table_lists():
    from app.http.errors import HTTP_ERRORS

    listed = {code for row in HTTP_ERRORS for code in row.codes}
    assert {param.values[1] for param in PAYLOAD_CODES} <= listed


def test_options_validate_without_an_image(service):
    params = service.options({"confidence": 0.6, "classes": ["car", 2], "annotate": True})
    assert isinstance(params, DetectParams)
    assert params.options.confidence == 0.6 and params.annotate is True
    assert params.options.class_ids == frozenset({2})  # "car" is COCO class 2
    with pytest.raises(DetectionError) as caught:
        service.options({"confidence": -1})
    assert caught.value.code == "invalid_field"


def test_options_are_what_a_whole_request_gets(service, jpeg_b64):
    fields = {"confidence": 0.3, "iou": 0.5, "max_detections": 7, "multi_label": True}
    whole = service.request({**fields, "image": jpeg_b64})
    assert service.options(fields).options == whole.options
    assert whole.image_bytes == base64.b64decode(jpeg_b64)


def test_the_image_limit_is_the_callers(service, demo_jpeg):
    with pytest.raises(DetectionError) as caught:
        service.request({"image": b64(demo_jpeg)}, max_image_bytes=len(demo_jpeg) // 2)
    assert caught.value.code == "image_too_large"
    # An upload comes as bytes, already bounded by the route that read it.
    assert service.request({}, image_bytes=demo_jpeg).image_bytes == demo_jpeg


def test_the_body_is_post_detects(service, client, demo_jpeg):
    body = service.detect(demo_jpeg, service.options({"confidence": 0.3}))
    answer = client.post("/detect", json={"image": b64(demo_jpeg), "confidence": 0.3}).get_json()
    assert body["count"] > 0
    for name in ("detections", "count", "image", "model"):
        assert body[name] == answer[name]
    assert "annotated_image" not in body


def test_annotate_adds_the_drawn_image(service, demo_jpeg):
    body = service.detect(demo_jpeg, service.options({"annotate": True}))
    drawn = Image.open(io.BytesIO(base64.b64decode(body["annotated_image"])))
    assert drawn.format == "JPEG"
    assert drawn.size == (body["image"]["width"], body["image"]["height"])
    assert "annotate" in body["timings_ms"]


def test_run_gives_the_detections_the_body_lists(service, demo_jpeg):
    params = service.options({})
    result = service.run(demo_jpeg, params.options)
    assert len(result.detections) == service.detect(demo_jpeg, params)["count"]


def test_without_a_model_every_call_raises_model_unavailable(demo_jpeg):
    service = DetectionService(Settings.from_env({}), None)
    calls = [
        lambda: service.model(),
        lambda: service.options({}),
        lambda: service.request({"image": b64(demo_jpeg)}),
        lambda: service.detect(demo_jpeg, DetectParams(None, annotate=False)),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(ModelError) as caught:
            call()
        assert caught.value.code == "model_unavailable"
        assert http_error(caught.value).status == 503
        assert error_of(caught.value) == {
            "error": {"code": "model_unavailable", "message": caught.value.message}
        }
