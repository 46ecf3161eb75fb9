"""AWS access for the triggers: lazily created clients, bounded S3 reads, error triage.

boto3 is imported on the first call, never at import: the HTTP path does not need it and
its cold start should not pay for it. Each client is created once per process and reused.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from ..detector.errors import DetectionError, PayloadTooLarge
from .errors import RetryLater, SourceAccessDenied, SourceNotFound, SourceUnreadable

# Codes AWS uses for "try again": throttling, timeouts and server-side faults.
TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "InternalFailureException",
        "InternalServerException",
        "RequestLimitExceeded",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
    }
)
NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "404"})
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "403", "Forbidden", "KMS.AccessDeniedException"})


@functools.cache
def client(service: str, endpoint_url: str | None = None) -> Any:
    """One boto3 client per (service, endpoint) per process; botocore retries throttling."""
    import boto3  # lazy on purpose: see the module docstring
    from botocore.config import Config

    # s3v4: presigned POSTs (app/events/jobs.py) must be SigV4; buckets refuse SigV2 policies.
    signature = {"signature_version": "s3v4"} if service == "s3" else {}
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, **signature)
    return boto3.client(service, endpoint_url=endpoint_url, config=config)


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def is_transient(exc: BaseException) -> bool:
    """Throttling, 5xx and connection trouble: worth a retry. Anything else is permanent."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(exc) in TRANSIENT_CODES or status >= 500 or status == 429
    return isinstance(exc, ConnectionError | HTTPClientError)


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


def is_client_error(exc: BaseException) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(exc, ClientError)
