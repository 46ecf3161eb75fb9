"""AWS access: every boto3 client is made here with one retry and timeout configuration; AWS
errors are sorted here (transient, not found, denied); small JSON objects in S3 are read and
written here.

boto3 is imported on the first call, never at import: the HTTP path does not need it and its
cold start should not pay for it. Shared clients are created once per process and reused.
"""

from __future__ import annotations

import functools
import json
from typing import Any

# botocore's standard retry mode: exponential backoff with jitter on throttling, 5xx and
# connection errors. Attempts count the first call too: 4 is the first and 3 retries
# (botocore's total_max_attempts; its max_attempts would count the retries only).
RETRY_MODE = "standard"
ATTEMPTS = 4
CONNECT_TIMEOUT_S = 5
# Per socket read, not per call. Above SQS long polling's 20 s wait (`python -m app work`),
# which a shorter one would cut off; 60 s is botocore's own default, written down here.
READ_TIMEOUT_S = 60

# Codes AWS uses for "try again": throttling, timeouts and server-side faults.
TRANSIENT_CODES = frozenset(
    {
        "ConditionalRequestConflict",  # S3: a conditional write raced another; retry
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
THROTTLING_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
    }
)
NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "404"})
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "403", "Forbidden", "KMS.AccessDeniedException"})


def client_config(
    service: str,
    *,
    attempts: int = ATTEMPTS,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    read_timeout_s: float = READ_TIMEOUT_S,
) -> Any:
    """The botocore Config of every client; a caller with a tighter time budget (the SSM read
    during Lambda init) passes fewer attempts or shorter timeouts, never another retry mode."""
    from botocore.config import Config

    # s3v4: presigned POSTs (app/jobs/store.py) must be SigV4; buckets refuse SigV2 policies.
    signature = {"signature_version": "s3v4"} if service == "s3" else {}
    return Config(
        retries={"mode": RETRY_MODE, "total_max_attempts": attempts},
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
        **signature,
    )


def new_client(service: str, *, endpoint_url: str | None = None, **limits: Any) -> Any:
    """A fresh client (limits: client_config's attempts and timeouts)."""
    import boto3  # lazy on purpose: see the module docstring

    return boto3.client(service, endpoint_url=endpoint_url, config=client_config(service, **limits))


@functools.cache
def client(service: str, endpoint_url: str | None = None) -> Any:
    """One client per (service, endpoint) per process, with the default configuration."""
    return new_client(service, endpoint_url=endpoint_url)


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


def transient_cause(exc: BaseException, what: str) -> str:
    """A transient failure in words a client may read (no endpoint, key or internals): "could
    not connect to {what}", "{what} did not answer in time", "{what} is busy (SlowDown)"."""
    from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

    if isinstance(exc, ReadTimeoutError):
        return f"{what} did not answer in time"
    if isinstance(exc, ConnectionError):  # refused, unresolvable, connect timeout, proxy, TLS
        return f"could not connect to {what}"
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = error_code(exc)[:40] or f"HTTP {status}"
        busy = status in (429, 503) or code in THROTTLING_CODES
        return f"{what} is busy ({code})" if busy else f"{what} failed ({code})"
    return f"the connection to {what} failed"


def is_client_error(exc: BaseException) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(exc, ClientError)


def is_aws_error(exc: BaseException) -> bool:
    """Any botocore error: AWS's answer (ClientError) or none (credentials, endpoint, network)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, BotoCoreError | ClientError)


def is_not_found(exc: BaseException) -> bool:
    return error_code(exc) in NOT_FOUND_CODES


def put_json(s3: Any, bucket: str, key: str, body: dict, **extra: Any) -> None:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json", **extra)


def get_json(s3: Any, bucket: str, key: str) -> dict | None:
    """The object parsed as JSON, or None when it does not exist."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise
    with response["Body"] as body:
        return json.loads(body.read())


def head(s3: Any, bucket: str, key: str) -> dict | None:
    """HeadObject's answer, or None when the object does not exist."""
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise
