"""Lambda invocations with events made by AWS's own tooling (`sam local generate-event`, the
commands are in tests/fixtures/events/README.md), through `handler.handler`.

The generated events are stored as SAM wrote them; each test fills in only what a real request
would carry (the body, its Content-Type, the query string, the Host header AWS sets). Last, the
jobs' links through each API's recorded event: a path prefix (the stage) is where the pages and
links must agree with what API Gateway puts in the URL.
"""

from __future__ import annotations

import base64
import copy
import json
import re

import pytest
import serverless_wsgi
from moto import mock_aws

from app import aws
from app.events import EventKind, event_kind

from . import test_handler
from .aws_events import lambda_body, load_event, make_client, use_fake_credentials
from .conftest import b64
from .test_handler import invoke

# The handler built at import with the shared model, and the same model without the adapter.
handler_module = test_handler.handler_module
direct_client = test_handler.direct_client


def _set_header(event: dict, name: str, value: str) -> None:
    """Set a header in every header map the event has (REST events carry two)."""
    for key in ("headers", "multiValueHeaders"):
        headers = event.get(key)
        if headers is not None:
            for existing in [k for k in headers if k.lower() == name.lower()]:
                del headers[existing]
            headers[name] = [value] if key == "multiValueHeaders" else value


def rest_request(query: dict[str, str] | None = None, **headers: str) -> dict:
    """SAM's REST API (payload 1.0) POST /detect on stage dev, with this query and headers."""
    event = load_event("sam_apigw_rest_post_detect")
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()} or None
    for name, value in headers.items():
        _set_header(event, name.replace("_", "-"), value)
    return event


def http_request(raw_query: str = "", **headers: str) -> dict:
    """SAM's HTTP API (payload 2.0, stage $default) POST /detect."""
    event = load_event("sam_apigw_http_post_detect")
    event["rawQueryString"] = raw_query
    event.pop("queryStringParameters", None)
    for name, value in headers.items():
        _set_header(event, name.replace("_", "-"), value)
    return event


def comparable(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "timings_ms"}


def test_sam_events_are_as_sam_makes_them():
    # What the tests below rely on: SAM writes a base64 body and no Content-Type.
    for name in ("sam_apigw_rest_post_detect", "sam_apigw_http_post_detect"):
        event = load_event(name)
        assert event["isBase64Encoded"] is True
        assert base64.b64decode(event["body"]) == b"__BODY__"
    assert load_event("sam_apigw_rest_post_detect")["requestContext"]["stage"] == "dev"
    assert load_event("sam_apigw_http_post_detect")["requestContext"]["stage"] == "$default"


@pytest.mark.parametrize("content_type", ["image/jpeg", "application/octet-stream"])
def test_rest_api_raw_upload_base64_encoded(handler_module, direct_client, demo_jpeg, content_type):
    event = rest_request({"confidence": "0.3"}, Content_Type=content_type)
    event["body"] = b64(demo_jpeg)  # a binary media type: API Gateway base64-encodes it
    response = invoke(handler_module, event)

    expected = direct_client.post("/detect", json={"image": b64(demo_jpeg), "confidence": 0.3})
    assert response["statusCode"] == 200, lambda_body(response)
    assert comparable(lambda_body(response)) == comparable(expected.get_json())
    assert lambda_body(response)["count"] >= 3


def test_rest_api_json_body_and_an_unknown_query_parameter(handler_module, demo_jpeg):
    event = rest_request(None, Content_Type="application/json")
    event["isBase64Encoded"] = False  # application/json is not a binary media type
    event["body"] = json.dumps({"image": b64(demo_jpeg)})
    assert invoke(handler_module, event)["statusCode"] == 200

    # SAM's own sample query (foo=bar) is not an option: a clear 400, not a 500.
    sample = load_event("sam_apigw_rest_post_detect")
    _set_header(sample, "Content-Type", "image/jpeg")
    sample["body"] = b64(demo_jpeg)
    response = invoke(handler_module, sample)
    assert response["statusCode"] == 400
    assert lambda_body(response)["error"]["code"] == "unknown_field"


def test_rest_api_stage_root_serves_the_page_for_the_stage(handler_module):
    event = load_event("sam_apigw_rest_get_root")
    event["queryStringParameters"] = event["multiValueQueryStringParameters"] = None
    page = invoke(handler_module, event)
    html = base64.b64decode(page["body"]).decode() if page["isBase64Encoded"] else page["body"]
    assert page["statusCode"] == 200
    assert '<base href="/dev/">' in html

    event["path"] = event["pathParameters"]["proxy"] = "/openapi.json"
    event["requestContext"]["path"] = "/dev/openapi.json"
    assert lambda_body(invoke(handler_module, event))["servers"] == [{"url": "/dev"}]


def test_http_api_raw_upload(handler_module, direct_client, demo_jpeg):
    event = http_request("confidence=0.3", content_type="image/jpeg")
    event["body"] = b64(demo_jpeg)
    response = invoke(handler_module, event)
    expected = direct_client.post("/detect", json={"image": b64(demo_jpeg), "confidence": 0.3})
    assert response["statusCode"] == 200, lambda_body(response)
    assert comparable(lambda_body(response)) == comparable(expected.get_json())


def test_http_api_default_stage_is_not_in_the_page_urls(handler_module):
    # AWS sends the execute-api host; serverless-wsgi then makes "/$default" the script root.
    event = http_request(
        host=load_event("sam_apigw_http_post_detect")["requestContext"]["domainName"]
    )
    event["requestContext"]["http"].update(method="GET", path="/")
    event["rawPath"] = "/"
    event.pop("body")
    event["isBase64Encoded"] = False
    page = invoke(handler_module, event)
    html = base64.b64decode(page["body"]).decode() if page["isBase64Encoded"] else page["body"]
    assert re.search(r'<base href="/">', html)


@pytest.fixture
def s3(monkeypatch):
    use_fake_credentials(monkeypatch)
    with mock_aws():
        aws.client.cache_clear()
        client = make_client("s3")
        client.create_bucket(Bucket="input-bucket")
        yield client
    aws.client.cache_clear()


def test_s3_put_event(handler_module, direct_client, s3, demo_jpeg):
    event = load_event("s3_put")
    (record,) = event["Records"]
    key = record["s3"]["object"]["key"]
    s3.put_object(Bucket=record["s3"]["bucket"]["name"], Key=key, Body=demo_jpeg)
    record["s3"]["object"]["size"] = len(demo_jpeg)

    outcome = handler_module.handler(copy.deepcopy(event), None)

    assert [r["status"] for r in outcome["records"]] == ["ok"]
    stored = json.loads(
        s3.get_object(Bucket="input-bucket", Key=f"detections/{key}.json")["Body"].read()
    )
    expected = direct_client.post("/detect", json={"image": b64(demo_jpeg)}).get_json()
    assert stored["detections"] == expected["detections"]  # one label per box here too


def test_sqs_messages_are_not_taken_for_s3_iot_or_http():
    kind = event_kind(load_event("sqs_receive_message"))
    assert kind not in (EventKind.S3, EventKind.IOT, EventKind.HTTP)


# POST /jobs through each API and where its links point: a REST API's stage is part of the URL,
# an HTTP API's (or a Function URL's) $default stage is not, though serverless-wsgi makes both
# the script root. (event fixture, the path prefix a client must use)
JOB_LINK_ROOTS = [("apigw_http_v2", ""), ("function_url", ""), ("apigw_rest_v1", "/prod")]


@pytest.mark.parametrize(("fixture", "root"), JOB_LINK_ROOTS)
def test_job_links_are_where_the_client_finds_the_job(world, fixture, root):
    posted = invoke_app(
        world.app, test_handler.retarget(test_handler.load_event(fixture), "POST", "/jobs")
    )
    job = lambda_body(posted)
    assert posted["statusCode"] == 201, job
    link = f"{root}/jobs/{job['job_id']}"
    assert job["links"]["self"] == link
    assert test_handler.response_headers(posted)["location"] == [link]

    path = f"/jobs/{job['job_id']}"  # what API Gateway passes on for that URL
    shown = invoke_app(
        world.app, test_handler.retarget(test_handler.load_event(fixture), "GET", path)
    )
    assert shown["statusCode"] == 200
    assert lambda_body(shown)["links"]["self"] == link


def invoke_app(app, event: dict) -> dict:
    return serverless_wsgi.handle_request(app, event, test_handler.lambda_context())
