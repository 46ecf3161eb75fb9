"""AWS Lambda entry points: delegation only, no logic."""

from __future__ import annotations

import gc

# Cold start: importing Flask, numpy and onnxruntime allocates enough objects to trigger about
# a hundred cyclic-GC passes (10-20 ms, bench/coldstart.py measures them) that free a few
# hundred objects in all. So: no GC during init, then freeze what init built, so that no later
# pass scans it either.
gc.disable()

import serverless_wsgi  # noqa: E402

from app import create_app  # noqa: E402
from app.events import (  # noqa: E402
    EventKind,
    event_kind,
    handle_iot_event,
    handle_s3_event,
    handle_sqs_event,
    unsupported_event,
)
from app.observability import configure_lambda_logging  # noqa: E402

configure_lambda_logging()  # JSON log lines with the request id
# Built at import, i.e. during Lambda init: the model loads once per execution environment.
app = create_app(fail_fast=False)
gc.freeze()
gc.enable()


def handler(event: dict, context: object) -> dict:
    """Every event source: S3, SQS and IoT events are recognised first (serverless-wsgi only
    understands HTTP events); API Gateway REST/HTTP APIs, Function URLs and ALB go through
    serverless-wsgi."""
    kind = event_kind(event)
    if kind is EventKind.S3:
        return s3_handler(event, context)
    if kind is EventKind.SQS:
        return sqs_handler(event, context)
    if kind is EventKind.IOT:
        return iot_handler(event, context)
    if kind is EventKind.HTTP:
        return serverless_wsgi.handle_request(app, event, context)
    return unsupported_event(event)


def s3_handler(event: dict, context: object) -> dict:
    """S3 ObjectCreated notifications (app/events/s3.py)."""
    return handle_s3_event(event, app.extensions["service"])


def sqs_handler(event: dict, context: object) -> dict:
    """SQS batches of S3 notifications, with a partial batch response (app/events/sqs.py)."""
    return handle_sqs_event(event, app.extensions["service"])


def iot_handler(event: dict, context: object) -> dict:
    """AWS IoT rule messages (app/events/iot.py)."""
    return handle_iot_event(event, app.extensions["service"])
