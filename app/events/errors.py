"""Errors of the event triggers, in the one hierarchy (DetectionError: a code and a message).

Permanent ones (the object is gone, unreadable, too large; the message is malformed) become an
error result; RetryLater makes the invocation fail so that Lambda retries the event.
"""

from __future__ import annotations

from ..detector.errors import DetectionError, InvalidRequest, PayloadTooLarge


class SourceNotFound(DetectionError):
    """The S3 object named by the event or message does not exist (any more)."""

    code = "source_not_found"


class SourceAccessDenied(DetectionError):
    """The function may not read the S3 object (outside the input prefix, or KMS-denied).

    Without s3:ListBucket, S3 also answers a missing object with 403, so this covers both.
    """

    code = "source_access_denied"


class SourceUnreadable(DetectionError):
    """S3 refused the read for a reason retrying will not fix (e.g. an archived object)."""

    code = "source_unreadable"


class RetryLater(DetectionError):
    """A transient AWS failure (throttling, 5xx, network): fail the invocation, Lambda retries."""

    code = "retry_later"


__all__ = [
    "InvalidRequest",
    "PayloadTooLarge",
    "RetryLater",
    "SourceAccessDenied",
    "SourceNotFound",
    "SourceUnreadable",
]
