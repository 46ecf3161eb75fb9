"""Structured JSON logs and CloudWatch Embedded Metric Format (EMF) metrics, one JSON object a line.

EMF (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)
is a log line with an "_aws" member naming which top-level keys are metrics: Lambda ships stdout
to CloudWatch Logs, which extracts the metrics. Hand-written: it is a few keys, and Powertools
would add an import to every cold start for them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g, has_request_context, request

from .config import Settings

log = logging.getLogger("app.requests")
_STARTED_KEY = "app.observability.started"
_STANDARD_RECORD_KEYS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def lambda_request_id() -> str | None:
    """The Lambda invocation's request id; serverless-wsgi puts the context in the environ."""
    if not has_request_context():
        return None
    context = request.environ.get("serverless.context")
    return getattr(context, "aws_request_id", None)


class JsonFormatter(logging.Formatter):
    """One JSON object per record; `extra=` fields become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = lambda_request_id()
        if request_id:
            doc["request_id"] = request_id
        doc.update({k: v for k, v in vars(record).items() if k not in _STANDARD_RECORD_KEYS})
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def configure_logging(log_format: str = "json", level: str = "INFO") -> None:
    """JSON (or plain text) on the root logger's handlers; the Lambda runtime installs one."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stdout if log_format == "json" else None))
    formatter = (
        JsonFormatter()
        if log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    for handler in root.handlers:
        handler.setFormatter(formatter)
    root.setLevel(level.upper())


def configure_lambda_logging(environ: Mapping[str, str] = os.environ) -> bool:
    """On AWS Lambda, JSON log lines (LOG_LEVEL, default INFO) from the start of init on."""
    if not environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return False
    configure_logging("json", environ.get("LOG_LEVEL", "INFO"))
    return True


def emf_document(
    namespace: str,
    dimensions: dict[str, str],
    metrics: dict[str, tuple[float, str]],
    properties: dict[str, Any],
    timestamp_ms: int,
    *,
    cold_start: bool = False,
) -> dict[str, Any]:
    """One EMF log line. metrics: name -> (value, unit). A cold start adds a ColdStart count
    under the first dimension only, so it sums across routes."""
    directives = [
        {
            "Namespace": namespace,
            "Dimensions": [list(dimensions)],
            "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
        }
    ]
    values = {name: value for name, (value, _) in metrics.items()}
    if cold_start:
        first = next(iter(dimensions))
        directives.append(
            {
                "Namespace": namespace,
                "Dimensions": [[first]],
                "Metrics": [{"Name": "ColdStart", "Unit": "Count"}],
            }
        )
        values["ColdStart"] = 1
    aws = {"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}
    return {"_aws": aws, **properties, **dimensions, **values}


class RequestMetrics:
    """Per-request latency and detections as EMF on stdout, and one log line per request."""

    def __init__(self, settings: Settings, *, enabled: bool, service: str) -> None:
        self.namespace = settings.metrics_namespace
        self.enabled = enabled
        self.service = service
        self.cold = True
        self.lock = threading.Lock()

    def wrap(self, wsgi_app):
        """Stamp the start time before Flask sees the request (routing, hooks and all)."""

        def timed(environ, start_response):
            environ[_STARTED_KEY] = time.perf_counter()
            return wsgi_app(environ, start_response)

        return timed

    def finished(self, response):
        started = request.environ.get(_STARTED_KEY, time.perf_counter())
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        route = request.url_rule.rule if request.url_rule else "unmatched"
        fields = {"method": request.method, "route": route, "status": response.status_code}
        log.info("%s %s %s", request.method, request.path, response.status_code,
                 extra={**fields, "latency_ms": latency_ms})  # fmt: skip
        if self.enabled:
            self._emit(route, fields, latency_ms)
        return response

    def _emit(self, route: str, fields: dict, latency_ms: float) -> None:
        metrics = {"Latency": (latency_ms, "Milliseconds")}
        count = g.get("detection_count")
        if count is not None:
            metrics["Detections"] = (count, "Count")
        properties = {**fields, "requestId": lambda_request_id()}
        with self.lock:  # one whole line per write, and exactly one cold start
            cold, self.cold = self.cold, False
            doc = emf_document(
                self.namespace,
                {"Service": self.service, "Route": route},
                metrics,
                properties,
                int(time.time() * 1000),
                cold_start=cold,
            )
            sys.stdout.write(json.dumps(doc, separators=(",", ":")) + "\n")
            sys.stdout.flush()


def metrics_enabled(settings: Settings, environ: Mapping[str, str]) -> bool:
    """ "auto" means on AWS Lambda only, where stdout becomes CloudWatch Logs."""
    if settings.metrics == "auto":
        return bool(environ.get("AWS_LAMBDA_FUNCTION_NAME"))
    return settings.metrics == "on"


def init_observability(app: Flask, settings: Settings) -> None:
    """A log line per request always; EMF metrics on stdout when METRICS says so."""
    service = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "small-object-detection"
    enabled = metrics_enabled(settings, os.environ)
    metrics = RequestMetrics(settings, enabled=enabled, service=service)
    app.extensions["metrics"] = metrics
    app.wsgi_app = metrics.wrap(app.wsgi_app)
    app.after_request(metrics.finished)
