"""Which kind of Lambda event this is: S3 notification, SQS batch, IoT rule message, HTTP, or
unknown."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from ..detector.errors import InvalidRequest
from .records import S3Event, SqsEvent

# An IoT message never has these; an event that does is something else (EventBridge, ...).
NOT_IOT_KEYS = ("httpMethod", "requestContext", "version")


class EventKind(enum.Enum):
    HTTP = "http"
    S3 = "s3"
    SQS = "sqs"
    IOT = "iot"
    UNKNOWN = "unknown"


def event_kind(event: Any) -> EventKind:
    """S3 or SQS first (Records from aws:s3 / aws:sqs), then HTTP, then an IoT message (an
    object with device_id)."""
    if not isinstance(event, Mapping):
        return EventKind.UNKNOWN
    if S3Event.matches(event):
        return EventKind.S3
    if SqsEvent.matches(event):
        return EventKind.SQS
    if is_http_event(event):
        return EventKind.HTTP
    if "device_id" in event and not any(key in event for key in NOT_IOT_KEYS):
        return EventKind.IOT
    return EventKind.UNKNOWN


def is_http_event(event: Mapping) -> bool:
    """API Gateway REST (1.0) and ALB carry httpMethod; HTTP APIs and Function URLs (2.0)
    carry requestContext.http."""
    context = event.get("requestContext")
    return "httpMethod" in event or (isinstance(context, Mapping) and "http" in context)


def unsupported_event(event: Any) -> dict:
    """Fail loudly: serverless-wsgi would crash on it with an unhelpful KeyError."""
    keys = sorted(map(str, event))[:10] if isinstance(event, Mapping) else type(event).__name__
    raise InvalidRequest(
        f"Unsupported event (keys: {keys}); this function handles API Gateway, ALB, "
        "Function URL, S3 ObjectCreated, SQS (S3 notifications) and AWS IoT rule events."
    )
