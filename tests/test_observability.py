"""Structured JSON logs with the Lambda request id, and CloudWatch EMF metrics on stdout."""

from __future__ import annotations

import io
import json
import logging
import sys
import time

import pytest
import serverless_wsgi

from app import create_app
from app.config import Settings
from app.detector import ConfigError
from app.observability import (
    JsonFormatter,
    configure_lambda_logging,
    configure_logging,
    metrics_enabled,
)
from tests.conftest import b64
from tests.test_handler import lambda_context, load_event, with_body

# The units the EMF specification allows (CloudWatch MetricDatum units).
EMF_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None",
}  # fmt: skip


def assert_valid_emf(doc: dict) -> None:
    """The rules of the EMF specification that CloudWatch enforces when it extracts metrics."""
    aws = doc["_aws"]
    assert isinstance(aws["Timestamp"], int)
    assert abs(aws["Timestamp"] - time.time() * 1000) < 60_000
    assert len(aws["CloudWatchMetrics"]) >= 1
    for directive in aws["CloudWatchMetrics"]:
        assert isinstance(directive["Namespace"], str) and 1 <= len(directive["Namespace"]) <= 255
        for dimension_set in directive["Dimensions"]:
            assert 1 <= len(dimension_set) <= 30
            for name in dimension_set:
                assert isinstance(doc[name], str) and doc[name], name  # a top-level string
        assert 1 <= len(directive["Metrics"]) <= 100
        for metric in directive["Metrics"]:
            value = doc[metric["Name"]]  # every metric is a top-level number
            assert isinstance(value, int | float) and not isinstance(value, bool)
            assert metric["Unit"] in EMF_UNITS


def emf_lines(text: str) -> list[dict]:
    docs = [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]
    for doc in docs:
        assert_valid_emf(doc)
    return docs


@pytest.fixture
def metrics_app(yolox_model, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "small-object-detect")
    return create_app({"metrics": "auto", "metrics_namespace": "Test/Detect"}, model=yolox_model)


def test_each_request_writes_one_emf_line_and_the_first_a_cold_start(
    metrics_app, capsys, demo_jpeg
):
    client = metrics_app.test_client()
    capsys.readouterr()
    detect = client.post("/detect", json={"image": b64(demo_jpeg)}).get_json()
    client.get("/health")
    client.post("/detect", json={"image": "QUJD"})  # a 422

    first, health, failed = emf_lines(capsys.readouterr().out)
    assert first["ColdStart"] == 1 and "ColdStart" not in health and "ColdStart" not in failed
    cold = first["_aws"]["CloudWatchMetrics"][1]
    assert cold["Dimensions"] == [["Service"]] and cold["Metrics"][0]["Name"] == "ColdStart"
    assert first["Service"] == "small-object-detect" and first["Route"] == "/detect"
    assert first["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Test/Detect"
    assert first["Detections"] == detect["count"] >= 3
    assert detect["timings_ms"]["total"] <= first["Latency"] < 60_000
    assert health["Route"] == "/health" and "Detections" not in health
    assert failed["status"] == 422 and "Detections" not in failed


def test_deepstack_requests_count_their_detections(metrics_app, capsys, demo_jpeg):
    capsys.readouterr()
    response = metrics_app.test_client().post(
        "/v1/vision/detection",
        data={"image": (io.BytesIO(demo_jpeg), "a.jpg")},
        content_type="multipart/form-data",
    )
    (doc,) = emf_lines(capsys.readouterr().out)
    assert doc["Detections"] == response.get_json()["count"] >= 1
    assert doc["Route"] == "/v1/vision/detection"


def test_through_the_lambda_adapter_logs_and_metrics_carry_the_request_id(
    metrics_app, capsys, demo_jpeg
):
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(JsonFormatter().format(record))
    logger = logging.getLogger("app.requests")
    logger.addHandler(handler)
    previous_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        capsys.readouterr()
        event = with_body(
            load_event("apigw_http_v2"), json.dumps({"image": b64(demo_jpeg)}).encode()
        )
        response = serverless_wsgi.handle_request(metrics_app, event, lambda_context())
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
    assert response["statusCode"] == 200
    request_id = lambda_context().aws_request_id
    (doc,) = emf_lines(capsys.readouterr().out)
    assert doc["requestId"] == request_id
    (line,) = [json.loads(r) for r in records]
    assert line["request_id"] == request_id
    assert line["route"] == "/detect" and line["status"] == 200 and line["latency_ms"] > 0
    assert line["level"] == "INFO" and line["message"].startswith("POST /detect 200")


def test_json_formatter_one_object_per_line_with_extras_and_exceptions():
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("a",), None)
        record.exc_info = sys.exc_info()
    record.image_id = 7
    text = JsonFormatter().format(record)
    assert "\n" not in text  # a multi-line traceback stays one log event
    doc = json.loads(text)
    assert doc["message"] == "failed a" and doc["image_id"] == 7 and doc["level"] == "ERROR"
    assert "ValueError: boom" in doc["exception"] and "request_id" not in doc
    assert doc["timestamp"].endswith("+00:00")


@pytest.fixture
def root_logging():
    """The root logger, restored (handlers, formatters, level) after the test."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, [h.formatter for h in root.handlers])
    yield root
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for handler, formatter in zip(saved[0], saved[2], strict=True):
        handler.setFormatter(formatter)


def test_configure_logging_sets_the_formatter_on_existing_handlers(root_logging):
    configure_logging("json", "warning")
    assert root_logging.level == logging.WARNING
    assert root_logging.handlers
    assert all(isinstance(h.formatter, JsonFormatter) for h in root_logging.handlers)


@pytest.mark.parametrize(
    ("environ", "json_lines"),
    [({"AWS_LAMBDA_FUNCTION_NAME": "detect", "LOG_LEVEL": "DEBUG"}, True), ({}, False)],
)
def test_json_logs_on_lambda_only(root_logging, environ, json_lines):
    root_logging.handlers[:] = []  # as under the Lambda runtime before it adds its own
    root_logging.addHandler(logging.StreamHandler(io.StringIO()))
    assert configure_lambda_logging(environ) is json_lines
    is_json = isinstance(root_logging.handlers[0].formatter, JsonFormatter)
    assert is_json is json_lines
    assert (root_logging.level == logging.DEBUG) is json_lines


@pytest.mark.parametrize(
    ("setting", "environ", "enabled"),
    [
        ("auto", {"AWS_LAMBDA_FUNCTION_NAME": "f"}, True),
        ("auto", {}, False),
        ("on", {}, True),
        ("off", {"AWS_LAMBDA_FUNCTION_NAME": "f"}, False),
    ],
)
def test_metrics_are_on_where_stdout_is_cloudwatch(setting, environ, enabled):
    assert metrics_enabled(Settings(metrics=setting), environ) is enabled


@pytest.mark.parametrize(
    "overrides", [{"metrics": "yes"}, {"metrics_namespace": ""}, {"metrics_namespace": "x" * 256}]
)
def test_bad_observability_settings_stop_start_up(overrides):
    with pytest.raises(ConfigError):
        Settings(**overrides)


def test_metrics_off_writes_nothing(yolox_model, capsys):
    app = create_app({"metrics": "off"}, model=yolox_model)
    capsys.readouterr()
    app.test_client().get("/health")
    assert emf_lines(capsys.readouterr().out) == []
