"""Structured JSON logs and CloudWatch Embedded Metric Format (EMF) metrics, one JSON object a line.

EMF (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)
is a log line with an "_aws" member naming which top-level keys are metrics: Lambda ships stdout
to CloudWatch Logs, which extracts the metrics. Hand-written: it is a few keys, and Powertools
would add an import to every cold start for them.

No Flask here (the command line logs through it too): the request hooks, and where a log line
finds its Lambda request id, are app/http/observability.py's.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from .config import Settings

_STANDARD_RECORD_KEYS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# Where a log line being written finds the current Lambda request id (None: not in a request).
_request_id_sources: list[Callable[[], str | None]] = []


def add_request_id_source(source: Callable[[], str | None]) -> None:
    """Let log lines carry a request id; the HTTP layer adds the one it knows (once)."""
    if source not in _request_id_sources:
        _request_id_sources.append(source)


def current_request_id() -> str | None:
    for source in _request_id_sources:
        request_id = source()
        if request_id:
            return request_id
    return None


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
        request_id = current_request_id()
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


def metrics_enabled(settings: Settings, environ: Mapping[str, str]) -> bool:
    """ "auto" means on AWS Lambda only, where stdout becomes CloudWatch Logs."""
    if settings.metrics == "auto":
        return bool(environ.get("AWS_LAMBDA_FUNCTION_NAME"))
    return settings.metrics == "on"
