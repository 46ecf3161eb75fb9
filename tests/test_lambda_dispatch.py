"""handler.py's dispatch: S3, SQS and IoT events reach their adapters, HTTP events
serverless-wsgi.

Also: importing the handler and answering HTTP must not import boto3 (cold start).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
import types

import pytest
from moto import mock_aws

from app import aws
from app.cli.work import sqs_event
from app.detector import ModelError
from app.detector.errors import InvalidRequest
from app.events import EventKind, event_kind

from .aws_events import (
    INPUT_BUCKET,
    RECORDED_KEYS,
    load_event,
    make_client,
    published_messages,
    small_jpeg,
    use_fake_credentials,
)
from .conftest import REPO_ROOT, b64, shared_path

EVENTBRIDGE_S3 = {
    "version": "0",
    "source": "aws.s3",
    "detail-type": "Object Created",
    "detail": {"bucket": {"name": INPUT_BUCKET}, "object": {"key": "uploads/a.jpg"}},
}

# (event, kind): every recorded fixture, and the near misses.
EVENT_KINDS = [
    *[
        (name, EventKind.HTTP)
        for name in (
            "apigw_rest_v1",
            "apigw_rest_v1_base64",
            "apigw_http_v2",
            "apigw_http_v2_get_health",
            "function_url",
            "alb",
        )
    ],
    ("s3_object_created", EventKind.S3),
    ("iot_rule_base64", EventKind.IOT),
    ("iot_rule_s3_ref", EventKind.IOT),
    ({}, EventKind.UNKNOWN),
    ([], EventKind.UNKNOWN),
    ("not json object", EventKind.UNKNOWN),
    ({"Records": []}, EventKind.UNKNOWN),
    ({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]}, EventKind.SQS),
    ({"Records": [{"eventSource": "aws:s3"}, {"eventSource": "aws:sqs"}]}, EventKind.UNKNOWN),
    ({"Records": "aws:s3"}, EventKind.UNKNOWN),
    (EVENTBRIDGE_S3, EventKind.UNKNOWN),  # S3 via EventBridge is not wired
    ({"device_id": "cam-7", "requestContext": {}}, EventKind.UNKNOWN),
    ({"device_id": "cam-7", "version": "0"}, EventKind.UNKNOWN),
    ({"device_id": "cam-7", "httpMethod": "GET", "path": "/"}, EventKind.HTTP),
]


def _event(spec):
    return load_event(spec) if isinstance(spec, str) and spec in _FIXTURE_NAMES else spec


_FIXTURE_NAMES = {name for name, _ in EVENT_KINDS if isinstance(name, str)} - {"not json object"}


@pytest.mark.parametrize(
    ("spec", "kind"),
    [pytest.param(s, k, id=f"{k.value}-{i}") for i, (s, k) in enumerate(EVENT_KINDS)],
)
def test_event_kind(spec, kind):
    assert event_kind(_event(spec)) is kind


def _load_handler(name: str) -> types.ModuleType:
    """A separate instance of handler.py, so this file does not share state with others."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _clean_env(mp: pytest.MonkeyPatch) -> None:
    from app.config import Settings

    for field in dataclasses.fields(Settings):
        mp.delenv(field.name.upper(), raising=False)


@pytest.fixture(scope="module")
def handler():
    with pytest.MonkeyPatch.context() as mp:
        _clean_env(mp)
        mp.setenv("MODEL_PATH", str(shared_path("models", "yolox_nano.onnx")))
        module = _load_handler("handler_for_dispatch_tests")
    assert module.app.extensions["model"] is not None
    return module


@pytest.fixture
def aws_mock(monkeypatch):
    """moto, with the handler's own lazily created clients made inside it."""
    use_fake_credentials(monkeypatch)
    with mock_aws():
        aws.client.cache_clear()
        s3 = make_client("s3")
        s3.create_bucket(Bucket=INPUT_BUCKET)
        yield s3
    aws.client.cache_clear()


@pytest.mark.parametrize("entry", ["handler", "s3_handler"])
def test_recorded_s3_event_through_the_entry_points(handler, aws_mock, demo_jpeg, entry):
    for key in RECORDED_KEYS:
        aws_mock.put_object(Bucket=INPUT_BUCKET, Key=key, Body=demo_jpeg)

    outcome = getattr(handler, entry)(load_event("s3_object_created"), None)

    assert [r["status"] for r in outcome["records"]] == ["ok"] * 3
    for key in RECORDED_KEYS:
        result = aws_mock.get_object(Bucket=INPUT_BUCKET, Key=f"detections/{key}.json")
        assert json.loads(result["Body"].read())["source"]["key"] == key


@pytest.mark.parametrize("entry", ["handler", "iot_handler"])
def test_recorded_iot_message_through_the_entry_points(handler, aws_mock, demo_jpeg, entry):
    message = load_event("iot_rule_base64")
    message["image"] = b64(small_jpeg(demo_jpeg))

    outcome = getattr(handler, entry)(message, None)

    assert outcome["status"] == "ok"
    [(topic, body)] = published_messages()
    assert (topic, body["device_id"]) == ("detections/cam-7", "cam-7")
    assert body["count"] == len(body["detections"]) >= 1


@pytest.mark.parametrize("entry", ["handler", "sqs_handler"])
def test_sqs_batch_of_s3_notifications_through_the_entry_points(
    handler, aws_mock, demo_jpeg, entry
):
    for key in RECORDED_KEYS:
        aws_mock.put_object(Bucket=INPUT_BUCKET, Key=key, Body=demo_jpeg)
    messages = [
        {
            "MessageId": "m-1",
            "ReceiptHandle": "r-1",
            "Body": json.dumps(load_event("s3_object_created")),
        },
        {"MessageId": "m-2", "ReceiptHandle": "r-2", "Body": json.dumps({"Event": "s3:TestEvent"})},
        {"MessageId": "m-3", "ReceiptHandle": "r-3", "Body": "garbage"},
    ]
    event = sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:work", "us-east-1")

    outcome = getattr(handler, entry)(event, None)

    assert outcome == {"batchItemFailures": [{"itemIdentifier": "m-3"}]}
    for key in RECORDED_KEYS:
        result = aws_mock.get_object(Bucket=INPUT_BUCKET, Key=f"detections/{key}.json")
        assert json.loads(result["Body"].read())["source"]["key"] == key


def test_http_events_still_reach_the_app(handler):
    response = handler.handler(load_event("apigw_http_v2_get_health"), None)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"status": "ok", "model": "yolox_nano"}


@pytest.mark.parametrize("event", [{}, {"Records": [{"eventSource": "aws:sns"}]}, EVENTBRIDGE_S3])
def test_unknown_event_fails_with_a_clear_message(handler, event):
    with pytest.raises(InvalidRequest, match="Unsupported event"):
        handler.handler(event, None)


def test_s3_and_iot_events_fail_without_a_model(tmp_path, monkeypatch):
    _clean_env(monkeypatch)
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "absent.onnx"))
    module = _load_handler("handler_without_model_for_dispatch")

    for event in (load_event("s3_object_created"), load_event("iot_rule_s3_ref")):
        with pytest.raises(ModelError, match="not loaded"):
            module.handler(event, None)


BOTO_CHECK = """
import json, sys
import handler
event = json.load(open(sys.argv[1]))
assert handler.handler(event, None)["statusCode"] == 200
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore"))))
"""


def test_http_path_never_imports_boto3():
    # A fresh interpreter, as at a Lambda cold start: import, then answer one HTTP event.
    model_path = shared_path("models", "yolox_nano.onnx")
    event_path = REPO_ROOT / "tests" / "fixtures" / "events" / "apigw_http_v2_get_health.json"
    result = subprocess.run(
        [sys.executable, "-c", BOTO_CHECK, str(event_path)],
        cwd=REPO_ROOT,
        env={"MODEL_PATH": str(model_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []
