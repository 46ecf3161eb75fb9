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
import re
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from .config import Settings

_STANDARD_RECORD_KEYS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What would end a log line or hide what follows it: C0 and C1 controls (LF, CR, NUL, ESC...),
# DEL, and Unicode's line and paragraph separators.
_LINE_BREAKERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Where a log line being written finds the current Lambda request id (None: not in a request).
_request_id_sources: list[Callable[[], str | None]] = []


def add_request_id_source(source: Callable[[], str | None]) -> None:
    """Let log lines carry a request id; the HTTP layer adds the one it knows (once)."""
    if source not in _request_id_sources:
        _request_id_sources.append(source)


def _escape(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def escape_controls(text: str) -> str:
    """text with every control character and line separator written as its escape (\\n, \\r,
    \\x00, \\u2028): what stays of it is one line."""
    return _LINE_BREAKERS.sub(_escape, text)


def loggable(value: object, *, max_chars: int = 500) -> str:
    """A value from a request (path, query, header, model name, S3 key, device id) as text that
    stays data inside a log line: backslashes doubled, control characters escaped (a path with
    %0a cannot end the line and write one of its own), cut to max_chars."""
    text = str(value)
    if len(text) > max_chars:
        text = text[:max_chars] + "..."
    return escape_controls(text.replace("\\", "\\\\"))


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


class TextFormatter(logging.Formatter):
    """Plain text, a record a line (TEXT_FORMAT). Control characters in the line itself are
    escaped, so a request value logged raw by mistake still cannot forge a line; the further
    lines of a traceback are indented (and escaped), so none of them can pass for a record."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return escape_controls(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        first, *rest = super().format(record).split("\n")
        return "\n".join([first, *("    " + escape_controls(line) for line in rest)])


def configure_logging(log_format: str = "json", level: str = "INFO") -> None:
    """JSON (or plain text) on the root logger's handlers; the Lambda runtime installs one."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stdout if log_format == "json" else None))
    formatter = JsonFormatter() if log_format == "json" else TextFormatter()
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
