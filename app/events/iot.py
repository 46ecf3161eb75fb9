"""AWS IoT rule trigger: detect on a device's frame (base64 or an S3 reference), publish the result.

A message is `{"device_id": "cam-7", "image": "<base64>", ...options}` or
`{"device_id": "cam-7", "s3": {"bucket": ..., "key": ...}, ...options}`; options are those of
POST /detect. The result (or an error body) goes to IOT_RESULT_TOPIC with QoS 1.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from .. import aws
from ..config import DEVICE_ID_FIELD, S3_BUCKET_NAME, S3_MAX_KEY_BYTES, Settings
from ..detector.errors import DetectionError, InvalidRequest, PayloadTooLarge
from ..schemas.detect import DetectParams
from ..schemas.errors import error_of
from ..service import DetectionService
from . import objects
from .errors import RetryLater
from .options import refuse_annotate, trigger_options
from .records import IotMessage, S3ObjectRef

log = logging.getLogger(__name__)

IOT_MAX_PAYLOAD_BYTES = 128 * 1024  # AWS IoT's message size limit, for publish too
# AWS IoT thing-name characters; the first one alphanumeric so that no device can be named
# like the fallback below. Anything else could inject MQTT levels (/) or wildcards (+ #).
DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9:_-]{0,127}")
# Messages without a usable device_id get their error on this topic (IOT_RESULT_TOPIC with
# device_id "_invalid"): still inside the topic space the function may publish to.
INVALID_DEVICE_ID = "_invalid"


def result_topic(device_id: str, settings: Settings) -> str:
    return settings.iot_result_topic.replace(DEVICE_ID_FIELD, device_id)


def handle_iot_event(
    event: Any, service: DetectionService, *, iot: Any = None, s3: Any = None
) -> dict:
    """Detect and publish; raise RetryLater (Lambda retries) only on transient AWS failures.
    service: the app's (every model by name; a message's "model" picks one)."""
    settings = service.settings
    service.model()  # no model: fail the invocation (Lambda retries), publish nothing
    iot = iot or aws.client("iot-data", settings.iot_data_endpoint)
    device_id = event.get("device_id") if isinstance(event, Mapping) else None
    if not isinstance(device_id, str) or not DEVICE_ID.fullmatch(device_id):
        topic = result_topic(INVALID_DEVICE_ID, settings)
        return _outcome(None, topic, _publish(iot, topic, {"device_id": None, **_bad_device_id()}))
    try:
        body = _detect_message(IotMessage(event), service, s3)
    except RetryLater:
        raise
    except DetectionError as exc:
        log.info("error published for device %s: %s", device_id, exc.code)
        body = error_of(exc)
    topic = result_topic(device_id, settings)
    return _outcome(device_id, topic, _publish(iot, topic, {"device_id": device_id, **body}))


def _outcome(device_id: str | None, topic: str, published: dict) -> dict:
    """What the invocation returns (and logs show): where the answer went, ok or which error."""
    code = published.get("error", {}).get("code")
    outcome = {"device_id": device_id, "topic": topic, "status": "error" if code else "ok"}
    return {**outcome, "code": code} if code else outcome


def _bad_device_id() -> dict:
    return error_of(
        InvalidRequest(
            'The message needs a "device_id" of 1-128 letters, digits, ":", "_" or "-", '
            "starting with a letter or digit; it names the result topic.",
            code="invalid_device_id",
        )
    )


def _detect_message(message: IotMessage, service: DetectionService, s3: Any) -> dict:
    """The POST /detect body for the message's image (plus "source" for an S3 reference)."""
    fields, settings = message.detect_fields, service.settings
    if message.s3 is None:
        if "image" not in fields:
            raise InvalidRequest(
                'The message needs "image" (base64) or "s3": {"bucket", "key"}.',
                code="missing_field",
            )
        refuse_annotate(fields)  # as on the S3-reference path: results stay detections-only
        parsed = service.request(fields)
        params = DetectParams(parsed.options, annotate=False, model=parsed.model)
        return service.detect(parsed.image_bytes, params)
    if "image" in fields:
        raise InvalidRequest('Send either "image" or "s3" in a message, not both.')
    ref = _s3_ref(message.s3)
    params = trigger_options(service, fields)  # a bad option fails before the download
    obj = objects.read_object(
        s3 or aws.client("s3"), ref.bucket, ref.key, max_bytes=settings.s3_max_object_bytes
    )
    body = service.detect(obj.data, params)
    source = {"bucket": ref.bucket, "key": ref.key, "etag": obj.etag, "version_id": obj.version_id}
    return {**body, "source": source}


def _s3_ref(value: Any) -> S3ObjectRef:
    """{"bucket", "key"} with a valid bucket name and a raw (not URL-encoded) key."""
    if isinstance(value, Mapping) and set(value) == {"bucket", "key"}:
        bucket, key = value["bucket"], value["key"]
        if (
            isinstance(bucket, str)
            and S3_BUCKET_NAME.fullmatch(bucket)
            and isinstance(key, str)
            and 0 < len(key.encode("utf-8", "replace")) <= S3_MAX_KEY_BYTES
        ):
            return S3ObjectRef(bucket, key)
    raise InvalidRequest(
        'The field "s3" must be {"bucket": "<bucket name>", "key": "<object key>"}.',
        code="invalid_field",
    )


def _publish(iot: Any, topic: str, body: dict) -> dict:
    """Publish body (QoS 1), or an error body when it is over IoT's size limit; returns it."""
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    if len(payload) > IOT_MAX_PAYLOAD_BYTES:
        too_large = PayloadTooLarge(
            f"The result is {len(payload):,} bytes, over the AWS IoT message limit of "
            f"{IOT_MAX_PAYLOAD_BYTES:,}; ask for fewer detections (max_detections).",
            code="result_too_large",
        )
        body = {"device_id": body.get("device_id"), **error_of(too_large)}
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    try:
        iot.publish(topic=topic, qos=1, payload=payload)
    except Exception as exc:
        if aws.is_transient(exc):
            raise RetryLater(f"Publishing to {topic} failed transiently: {exc}") from exc
        raise
    return body
