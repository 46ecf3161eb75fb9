"""The Flask side of logs and metrics: the Lambda request id of a request, one log line per
request, and its EMF metrics (latency, detections). The formats are app/observability.py's."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time

from flask import Flask, g, has_request_context, request

from ..config import Settings
from ..observability import add_request_id_source, emf_document, loggable, metrics_enabled

log = logging.getLogger("app.requests")
_STARTED_KEY = "app.observability.started"


def lambda_request_id() -> str | None:
    """The Lambda invocation's request id; serverless-wsgi puts the context in the environ."""
    if not has_request_context():
        return None
    context = request.environ.get("serverless.context")
    return getattr(context, "aws_request_id", None)


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
        # The path is the client's: escaped in the line, and a string field of its own in JSON.
        log.info("%s %s %s", loggable(request.method), loggable(request.path),
                 response.status_code, extra={**fields, "path": request.path,
                 "latency_ms": latency_ms})  # fmt: skip
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


def init_observability(app: Flask, settings: Settings) -> None:
    """A log line per request always; EMF metrics on stdout when METRICS says so; log lines
    written during a request carry its Lambda request id."""
    add_request_id_source(lambda_request_id)
    service = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "small-object-detection"
    enabled = metrics_enabled(settings, os.environ)
    metrics = RequestMetrics(settings, enabled=enabled, service=service)
    app.extensions["metrics"] = metrics
    app.wsgi_app = metrics.wrap(app.wsgi_app)
    app.after_request(metrics.finished)
