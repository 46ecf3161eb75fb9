"""Errors of the event triggers, in the one hierarchy (DetectionError: code + HTTP status).

Permanent ones (the object is gone, unreadable, too large; the message is malformed) become an
error result; RetryLater makes the invocation fail so that Lambda retries the event.
"""

from __future__ import annotations

from ..detector.errors import DetectionError, InvalidRequest, PayloadTooLarge


class SourceNotFound(DetectionError):
    """The S3 object named by the event or message does not exist (any more)."""

    code = "source_not_found"
    http_status = 404


class SourceAccessDenied(DetectionError):
    """The function may not read the S3 object (outside the input prefix, or KMS-denied).

    Without s3:ListBucket, S3 also answers a missing object with 403, so this covers both.
    """

    code = "source_access_denied"
    http_status = 403


class SourceUnreadable(DetectionError):
    """S3 refused the read for a reason retrying will not fix (e.g. an archived object)."""

    code = "source_unreadable"
    http_status = 422


class JobsUnavailable(DetectionError):
    """Jobs are not configured (no JOBS_BUCKET) or their storage cannot be reached."""

    code = "jobs_unavailable"
    http_status = 503


class JobNotFound(DetectionError):
    """No job with this id was ever created (or the id is malformed)."""

    code = "not_found"
    http_status = 404


class RetryLater(DetectionError):
    """A transient AWS failure (throttling, 5xx, network): fail the invocation, Lambda retries."""

    code = "retry_later"
    http_status = 503


__all__ = [
    "InvalidRequest",
    "JobNotFound",
    "JobsUnavailable",
    "PayloadTooLarge",
    "RetryLater",
    "SourceAccessDenied",
    "SourceNotFound",
    "SourceUnreadable",
]
