"""The AWS IoT rule trigger against moto's IoT Data and S3 APIs, with the recorded messages.

What a device gets back is read from what moto's IoT Data backend received on publish, and is
compared with POST /detect's answer for the same image and options.
"""

from __future__ import annotations

import copy
import json

import pytest

from app import create_app
from app.config import Settings
from app.detector import ModelError
from app.events import handle_iot_event
from app.events import iot as iot_module
from app.events.errors import RetryLater
from app.service import DetectionService

from .aws_events import (
    INPUT_BUCKET,
    inject_error,
    load_event,
    make_client,
    published_messages,
    record_calls,
    small_jpeg,
)
from .conftest import b64

IOT_MESSAGE_LIMIT_BYTES = 128 * 1024
S3_REF_KEY = "cam-7/2026-11-25/frame 12.jpg"  # the raw key in iot_rule_s3_ref.json


@pytest.fixture
def clients(moto_aws):
    """(iot-data, s3) clients on moto, with the bucket the recorded message references."""
    s3 = make_client("s3")
    s3.create_bucket(Bucket=INPUT_BUCKET)
    return make_client("iot-data"), s3


@pytest.fixture(scope="module")
def api(yolox_model):
    return create_app(model=yolox_model).test_client()


@pytest.fixture(scope="session")
def frame(demo_jpeg) -> bytes:
    """A camera frame small enough for an IoT message (128 KB, base64 included)."""
    return small_jpeg(demo_jpeg)


def settings(**overrides) -> Settings:
    return Settings.from_env({}, overrides)


def base64_message(frame: bytes, **fields) -> dict:
    message = load_event("iot_rule_base64")
    assert message["image"] == "__IMAGE_B64__", "the fixture lost its placeholder"
    message["image"] = b64(frame)
    return {**message, **fields}


def send(event, model, clients, config: Settings | None = None) -> dict:
    iot, s3 = clients
    return handle_iot_event(event, DetectionService(config or settings(), model), iot=iot, s3=s3)


def api_answer(api, payload: dict) -> dict:
    response = api.post("/detect", json=payload)
    assert response.status_code == 200, response.get_json()
    return comparable(response.get_json())


def comparable(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("timings_ms", "device_id", "source")}


def test_base64_message_publishes_the_api_answer_with_qos_1(clients, yolox_model, api, frame):
    event = base64_message(frame)
    assert len(json.dumps(event).encode()) < IOT_MESSAGE_LIMIT_BYTES  # a message IoT would accept
    publishes = record_calls(clients[0], "Publish")

    outcome = send(event, yolox_model, clients)

    assert outcome == {"device_id": "cam-7", "topic": "detections/cam-7", "status": "ok"}
    [(topic, body)] = published_messages()
    assert topic == "detections/cam-7"
    assert body["device_id"] == "cam-7"
    assert comparable(body) == api_answer(api, {"image": b64(frame), "confidence": 0.3})
    assert min(d["confidence"] for d in body["detections"]) >= 0.3  # the message's option
    assert [call["qos"] for call in publishes] == [1]


def test_s3_reference_message_publishes_the_api_answer_with_its_source(
    clients, yolox_model, api, demo_jpeg
):
    put = clients[1].put_object(Bucket=INPUT_BUCKET, Key=S3_REF_KEY, Body=demo_jpeg)

    outcome = send(load_event("iot_rule_s3_ref"), yolox_model, clients)

    assert outcome["status"] == "ok"
    [(topic, body)] = published_messages()
    assert topic == "detections/cam-7"
    assert comparable(body) == api_answer(api, {"image": b64(demo_jpeg)})
    assert body["source"] == {
        "bucket": INPUT_BUCKET,
        "key": S3_REF_KEY,
        "etag": put["ETag"].strip('"'),
        "version_id": None,  # an unversioned bucket
    }


def _ref(**fields) -> dict:
    return {"device_id": "cam-7", **fields}


# Bad messages from a known device: (message without image, settings overrides, code).
# "IMAGE" stands for the base64 frame, filled in by the test.
BAD_MESSAGES = [
    ("no_image_no_s3", _ref(), {}, "missing_field"),
    ("image_not_base64", _ref(image="@@not base64@@"), {}, "invalid_base64"),
    ("image_not_an_image", _ref(image=b64(b"plain text")), {}, "unsupported_image_format"),
    ("image_too_large", _ref(image="IMAGE"), {"max_image_bytes": 1000}, "image_too_large"),
    ("image_and_s3", _ref(image="IMAGE", s3={"bucket": INPUT_BUCKET, "key": "k"}), {}, None),
    ("s3_not_an_object", _ref(s3=f"{INPUT_BUCKET}/{S3_REF_KEY}"), {}, "invalid_field"),
    ("s3_without_key", _ref(s3={"bucket": INPUT_BUCKET}), {}, "invalid_field"),
    ("s3_bad_bucket", _ref(s3={"bucket": "Not_A_Bucket", "key": "k.jpg"}), {}, "invalid_field"),
    ("s3_empty_key", _ref(s3={"bucket": INPUT_BUCKET, "key": ""}), {}, "invalid_field"),
    ("s3_missing", _ref(s3={"bucket": INPUT_BUCKET, "key": "nope.jpg"}), {}, "source_not_found"),
    ("s3_bad_option", _ref(s3={"bucket": INPUT_BUCKET, "key": "k"}, iou=-1), {}, "invalid_field"),
    ("unknown_field", _ref(image="IMAGE", colour="red"), {}, "unknown_field"),
    ("confidence_out_of_range", _ref(image="IMAGE", confidence=2), {}, "invalid_field"),
    ("unknown_class", _ref(image="IMAGE", classes=["unicorn"]), {}, "unknown_class"),
    ("image_annotate", _ref(image="IMAGE", annotate=True), {}, "invalid_field"),
    (
        "s3_annotate",
        _ref(s3={"bucket": INPUT_BUCKET, "key": "k"}, annotate=True),
        {},
        "invalid_field",
    ),
]


def test_annotate_is_refused_alike_for_a_base64_image_and_an_s3_reference(
    clients, yolox_model, frame
):
    clients[1].put_object(Bucket=INPUT_BUCKET, Key=S3_REF_KEY, Body=frame)
    reference = {"bucket": INPUT_BUCKET, "key": S3_REF_KEY}
    for fields in ({"image": b64(frame)}, {"s3": reference}):
        send(_ref(**fields, annotate=True), yolox_model, clients, settings())
        send(_ref(**fields, annotate=False), yolox_model, clients, settings())
    refused_b64, plain_b64, refused_s3, plain_s3 = [body for _, body in published_messages()]
    assert refused_b64 == refused_s3
    assert refused_b64["error"] == {
        "code": "invalid_field",
        "message": '"annotate" is only available on POST /detect, not on S3 or IoT triggers.',
    }
    assert "annotated_image" not in plain_b64 and plain_b64["detections"]  # false: no harm
    assert "annotated_image" not in plain_s3 and plain_s3["detections"]


@pytest.mark.parametrize(
    ("message", "overrides", "code"),
    [pytest.param(m, o, c, id=name) for name, m, o, c in BAD_MESSAGES],
)
def test_bad_message_publishes_an_error_to_the_device(
    clients, yolox_model, frame, message, overrides, code
):
    event = copy.deepcopy(message)
    if event.get("image") == "IMAGE":
        event["image"] = b64(frame)

    outcome = send(event, yolox_model, clients, settings(**overrides))

    [(topic, body)] = published_messages()
    assert topic == "detections/cam-7"
    assert set(body) == {"device_id", "error"}
    assert body["device_id"] == "cam-7"
    assert body["error"]["code"] == (code or "invalid_request")
    assert body["error"]["message"]
    assert outcome == {
        "device_id": "cam-7",
        "topic": "detections/cam-7",
        "status": "error",
        "code": body["error"]["code"],
    }


# device_id values that must not become (part of) an MQTT topic.
BAD_DEVICE_IDS = [
    pytest.param({"device_id": "cam/7"}, id="slash_adds_a_level"),
    pytest.param({"device_id": "cam+7"}, id="single_level_wildcard"),
    pytest.param({"device_id": "#"}, id="multi_level_wildcard"),
    pytest.param({"device_id": "$aws/things"}, id="reserved_topic"),
    pytest.param({"device_id": "_invalid"}, id="the_fallback_name"),
    pytest.param({"device_id": ""}, id="empty"),
    pytest.param({"device_id": "x" * 129}, id="too_long"),
    pytest.param({"device_id": "cam 7"}, id="space"),
    pytest.param({"device_id": "caméra"}, id="non_ascii"),
    pytest.param({"device_id": "cam\u00007"}, id="nul"),
    pytest.param({"device_id": 7}, id="not_a_string"),
    pytest.param({"device_id": None}, id="null"),
    pytest.param([{"device_id": "cam-7"}], id="not_an_object"),
]


@pytest.mark.parametrize("event", BAD_DEVICE_IDS)
def test_bad_device_id_gets_its_error_on_the_fallback_topic(clients, yolox_model, frame, event):
    if isinstance(event, dict):
        event = {**event, "image": b64(frame)}

    outcome = send(event, yolox_model, clients)

    [(topic, body)] = published_messages()
    assert topic == "detections/_invalid"
    assert body == {"device_id": None, "error": body["error"]}
    assert body["error"]["code"] == "invalid_device_id"
    assert outcome["topic"] == "detections/_invalid"


@pytest.mark.parametrize(
    ("device_id", "template", "topic"),
    [
        ("a", "detections/{device_id}", "detections/a"),
        ("x" * 128, "detections/{device_id}", "detections/" + "x" * 128),
        ("thing:01_a-B", "detections/{device_id}", "detections/thing:01_a-B"),
        ("cam-7", "sites/alpha/{device_id}/detections", "sites/alpha/cam-7/detections"),
        ("cam-7", "{device_id}", "cam-7"),
    ],
)
def test_result_topic_from_the_template(clients, yolox_model, frame, device_id, template, topic):
    event = base64_message(frame, device_id=device_id)

    send(event, yolox_model, clients, settings(iot_result_topic=template))

    assert [t for t, _ in published_messages()] == [topic]


def test_result_over_the_iot_message_limit_is_replaced_by_an_error(
    clients, yolox_model, api, frame, monkeypatch
):
    # The limit is lowered so that a real result of the default model exceeds it.
    limit_bytes = 2_000
    monkeypatch.setattr(iot_module, "IOT_MAX_PAYLOAD_BYTES", limit_bytes)
    options = {"confidence": 0.01, "max_detections": 10_000}
    full = api.post("/detect", json={"image": b64(frame), **options}).get_data()
    assert len(full) > limit_bytes

    outcome = send(base64_message(frame, **options), yolox_model, clients)

    [(_, body)] = published_messages()
    assert body["error"]["code"] == outcome["code"] == "result_too_large"
    assert f"{limit_bytes:,}" in body["error"]["message"]


# Failures of AWS itself: (operation failed, status, code, exception expected)
AWS_FAILURES = [
    pytest.param("Publish", 429, "ThrottlingException", RetryLater, id="publish_throttled"),
    pytest.param("Publish", 503, "ServiceUnavailableException", RetryLater, id="publish_5xx"),
    pytest.param("Publish", 403, "ForbiddenException", Exception, id="publish_denied"),
    pytest.param("GetObject", 503, "SlowDown", RetryLater, id="s3_reference_throttled"),
]


@pytest.mark.parametrize(("operation", "status", "code", "raised"), AWS_FAILURES)
def test_aws_failure_fails_the_invocation(
    clients, yolox_model, demo_jpeg, operation, status, code, raised
):
    iot, s3 = clients
    s3.put_object(Bucket=INPUT_BUCKET, Key=S3_REF_KEY, Body=demo_jpeg)
    inject_error(iot if operation == "Publish" else s3, operation, status=status, code=code)

    with pytest.raises(raised) as caught:
        send(load_event("iot_rule_s3_ref"), yolox_model, clients)

    if raised is not RetryLater:
        assert not isinstance(caught.value, RetryLater)  # a refusal is not worth a retry...
        assert code in str(caught.value)  # ...but still fails loudly, with the reason
    assert published_messages() == []


def test_without_a_model_the_invocation_fails(clients, frame):
    with pytest.raises(ModelError):
        send(base64_message(frame), None, clients)
    assert published_messages() == []
