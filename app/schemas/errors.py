"""The error body every entry point answers, publishes or records: {"error": {"code", "message"}}.

Built here only: HTTP (app/http/errors.py), the S3 and IoT triggers, and a failed job's
result.json all use it.
"""

from __future__ import annotations

from ..detector.errors import DetectionError


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def error_of(exc: DetectionError) -> dict:
    """The error body of one of the hierarchy's errors."""
    return error_body(exc.code, exc.message)
