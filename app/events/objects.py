"""S3 objects the triggers read: bounded reads, and a failed read sorted into the error it
records (permanent) or RetryLater (transient). Clients and error triage are app/aws.py's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..aws import ACCESS_DENIED_CODES, NOT_FOUND_CODES, error_code, is_client_error, is_transient
from ..detector.errors import DetectionError, PayloadTooLarge
from .errors import RetryLater, SourceAccessDenied, SourceNotFound, SourceUnreadable


def source_error(exc: Exception, bucket: str, key: str) -> DetectionError:
    """Map a failed S3 read to the error recorded for it; transient ones become RetryLater."""
    where = f"s3://{bucket}/{key}"[:300]
    code = error_code(exc)
    if is_transient(exc):
        return RetryLater(f"Reading {where} failed transiently ({code or type(exc).__name__}).")
    if code in NOT_FOUND_CODES:
        return SourceNotFound(f"The object {where} does not exist (deleted before processing?).")
    if code in ACCESS_DENIED_CODES:
        return SourceAccessDenied(
            f"The object {where} cannot be read: access denied, or it no longer exists."
        )
    return SourceUnreadable(f"The object {where} cannot be read ({code or 'unknown error'}).")


@dataclass(frozen=True)
class S3Object:
    """Bytes of an S3 object, and which version of it they are."""

    data: bytes
    etag: str | None
    version_id: str | None


@dataclass(frozen=True)
class SizeCap:
    """How many bytes an object may have, the setting that says so, and the error code."""

    max_bytes: int
    setting: str = "S3_MAX_OBJECT_BYTES"
    code: str = "object_too_large"


def read_object(
    s3: Any,
    bucket: str,
    key: str,
    *,
    max_bytes: int | SizeCap,
    known_size: int | None = None,
) -> S3Object:
    """GetObject with a size cap, checked three times: the size the event announced (no request
    at all), the response's Content-Length (before reading), and a bounded read.

    Raises SourceNotFound / SourceAccessDenied / SourceUnreadable / PayloadTooLarge
    (permanent) or RetryLater (transient).
    """
    cap = max_bytes if isinstance(max_bytes, SizeCap) else SizeCap(max_bytes)
    if known_size is not None and known_size > cap.max_bytes:
        raise _too_large(bucket, key, cap, known_size)
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if is_client_error(exc) or is_transient(exc):
            raise source_error(exc, bucket, key) from exc
        raise
    body = response["Body"]
    try:
        length = response.get("ContentLength")
        if length is not None and length > cap.max_bytes:
            raise _too_large(bucket, key, cap, length)
        data = _bounded_read(body, bucket, key, cap)
    finally:
        body.close()
    etag = response.get("ETag")
    return S3Object(data, etag.strip('"') if etag else None, response.get("VersionId"))


def _bounded_read(body: Any, bucket: str, key: str, cap: SizeCap) -> bytes:
    # Content-Length can be absent or wrong; never hold more than max_bytes + 1 in memory.
    try:
        data = body.read(cap.max_bytes + 1)
    except Exception as exc:
        if is_transient(exc):
            raise source_error(exc, bucket, key) from exc
        raise
    if len(data) > cap.max_bytes:
        raise _too_large(bucket, key, cap, None)
    return data


def _too_large(bucket: str, key: str, cap: SizeCap, size: int | None) -> PayloadTooLarge:
    size_text = f"{size:,} bytes" if size is not None else "larger than the limit"
    return PayloadTooLarge(
        f"The object s3://{bucket}/{key[:200]} is {size_text}; the limit "
        f"({cap.setting}) is {cap.max_bytes:,} bytes.",
        code=cap.code,
    )
