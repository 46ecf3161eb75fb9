"""Helpers for the S3 and IoT trigger tests: moto-backed AWS, recorded events, published messages.

AWS itself is moto (the real boto3 clients and API shapes, served in-process). The one thing
moto cannot do is fail transiently (throttling, 5xx); `inject_error` fakes exactly that: chosen
requests get an AWS error response (status, code and body as AWS sends them) instead.
"""

from __future__ import annotations

import base64
import copy
import io
import json
from collections.abc import Callable

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HeadersDict
from botocore.config import Config
from botocore.parsers import create_parser
from PIL import Image

from .conftest import FIXTURES

EVENTS = FIXTURES / "events"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
INPUT_BUCKET = "input-bucket"  # the bucket of the recorded events
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
# The decoded keys of the three records in s3_object_created.json.
RECORDED_KEYS = ("uploads/frame-001.jpg", "uploads/my photo (1).jpg", "uploads/café + plus.png")


def lambda_body(response: dict) -> dict:
    """A Lambda HTTP answer's JSON body (API Gateway, Function URL, ALB): base64 undone when
    the answer says it is base64."""
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8")
    return json.loads(body)


def queue_arn(sqs, url: str) -> str:
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return found["Attributes"]["QueueArn"]


def notify_queue(s3, sqs, bucket: str, queue_url: str, rules) -> None:
    """S3 ObjectCreated notifications of bucket to the queue, one filter per rule (a list of
    (prefix|suffix, value) pairs), as serverless.yml wires the work queue."""
    configs = [
        {
            "QueueArn": queue_arn(sqs, queue_url),
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": n, "Value": v} for n, v in rule]}},
        }
        for rule in rules
    ]
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": configs}
    )


def use_fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and region, and nothing from the developer's own AWS setup."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    for name, value in FAKE_ENV.items():
        monkeypatch.setenv(name, value)


def make_client(service: str):
    """A real boto3 client without retries, so an injected failure is seen once, quickly."""
    config = Config(retries={"mode": "standard", "total_max_attempts": 1})
    return boto3.client(service, region_name=REGION, config=config)


def load_event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))


def s3_event(*raw_keys: str, bucket: str = INPUT_BUCKET, **object_fields) -> dict:
    """An S3 event in the recorded shape, one record per (URL-encoded) key."""
    template = load_event("s3_object_created")["Records"][0]
    records = []
    for raw_key in raw_keys:
        record = copy.deepcopy(template)
        record["s3"]["bucket"].update(name=bucket, arn=f"arn:aws:s3:::{bucket}")
        record["s3"]["object"].update(key=raw_key, **object_fields)
        records.append(record)
    return {"Records": records}


def small_jpeg(data: bytes, width_px: int = 640) -> bytes:
    """The picture scaled down and re-encoded: a camera frame that fits an IoT message."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    height_px = round(image.height * width_px / image.width)
    buffer = io.BytesIO()
    image.resize((width_px, height_px), Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def published_messages() -> list[tuple[str, dict]]:
    """(topic, JSON payload) of everything published through moto's IoT Data API."""
    from moto.backends import get_backend

    backend = get_backend("iot-data")[ACCOUNT_ID][REGION]
    return [(topic, json.loads(payload)) for topic, payload in backend.published_payloads]


def record_calls(client, operation: str) -> list[dict]:
    """The parameters of every `operation` call the client makes (as botocore sends them)."""
    calls: list[dict] = []
    service_id = client.meta.service_model.service_id.hyphenize()
    event = f"provide-client-params.{service_id}.{operation}"
    client.meta.events.register(event, lambda params, **_: calls.append(dict(params)))
    return calls


# The error bodies AWS sends: S3 speaks XML; SNS (query) wraps it in ErrorResponse; IoT Data
# (rest-json) names the type in a header.
_S3_ERROR = (
    "<?xml version='1.0' encoding='UTF-8'?><Error><Code>{}</Code><Message>{}</Message></Error>"
)
_QUERY_ERROR = (
    "<ErrorResponse><Error><Type>Receiver</Type><Code>{}</Code><Message>{}</Message></Error>"
    "<RequestId>injected</RequestId></ErrorResponse>"
)


def _error_response(protocol: str, status: int, code: str) -> dict:
    if protocol in ("rest-xml", "query"):
        template = _S3_ERROR if protocol == "rest-xml" else _QUERY_ERROR
        body = template.format(code, "Please reduce your request rate.").encode()
        headers = {"Content-Type": "application/xml"}
    else:
        body = json.dumps({"message": "Rate exceeded"}).encode()
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code}
    return {"status_code": status, "headers": HeadersDict(headers), "body": body}


def inject_error(
    client,
    operation: str,
    *,
    status: int,
    code: str,
    when: Callable[[dict], bool] = lambda params: True,
) -> None:
    """Make `operation` calls for which when(params) is true get an AWS error response.

    The response is parsed by botocore's own parser for the service's protocol, so the client
    raises exactly the ClientError it would for that response from AWS. It replaces the request
    at before-call: moto (which answers at before-send) never sees it, so a failed write
    leaves nothing behind, as on AWS.
    """
    service_id = client.meta.service_model.service_id.hyphenize()
    protocol = client.meta.service_model.protocol
    chosen: dict = {}

    def choose(params, **_):
        chosen["hit"] = when(params)

    def respond(model, **_):
        if not chosen.pop("hit", False):
            return None
        raw = _error_response(protocol, status, code)
        parsed = create_parser(protocol).parse(raw, model.output_shape)
        http = AWSResponse("https://injected.invalid", status, raw["headers"], None)
        return http, parsed

    client.meta.events.register(f"provide-client-params.{service_id}.{operation}", choose)
    client.meta.events.register_first(f"before-call.{service_id}.{operation}", respond)
