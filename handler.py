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

# Built at import, i.e. during Lambda init: the model loads once per execution environment.
app = create_app(fail_fast=False)
gc.freeze()
gc.enable()


def handler(event: dict, context: object) -> dict:
    """API Gateway REST (v1) and HTTP (v2) APIs, Function URLs and ALB, via serverless-wsgi."""
    return serverless_wsgi.handle_request(app, event, context)
