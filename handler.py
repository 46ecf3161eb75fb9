"""AWS Lambda entry points: delegation only, no logic."""

from __future__ import annotations

import serverless_wsgi

from app import create_app
from app.observability import configure_lambda_logging

configure_lambda_logging()  # JSON log lines with the request id (issue 7)
# Built at import, i.e. during Lambda init: the model loads once per execution environment.
app = create_app(fail_fast=False)


def handler(event: dict, context: object) -> dict:
    """API Gateway REST (v1) and HTTP (v2) APIs, Function URLs and ALB, via serverless-wsgi."""
    return serverless_wsgi.handle_request(app, event, context)
